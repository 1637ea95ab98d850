"""The vocabulary sample text is drawn from: names, title moulds, description sentences, their rates."""

FIRST_NAMES = (
    "Aaron", "Adam", "Alan", "Albert", "Alex", "Alice", "Amanda", "Amy", "Andrew", "Angela", "Anna",
    "Anthony", "Arthur", "Barbara", "Ben", "Bill", "Billy", "Bob", "Brian", "Bruce", "Carl", "Carol",
    "Carrie", "Charles", "Chris", "Christopher", "Claire", "Dan", "Daniel", "David", "Dean", "Dennis",
    "Diane", "Donald", "Dorothy", "Douglas", "Ed", "Edward", "Elizabeth", "Emily", "Emma", "Eric",
    "Frank", "Fred", "Gary", "Gene", "George", "Grace", "Greg", "Hannah", "Harold", "Harrison",
    "Helen", "Henry", "Ian", "Jack", "Jake", "James", "Jane", "Jason", "Jeff", "Jennifer", "Jessica",
    "Jim", "Joan", "Joe", "John", "Jonathan", "Joseph", "Judy", "Julia", "Karen", "Kate", "Keith",
    "Ken", "Kevin", "Kim", "Larry", "Laura", "Lee", "Leonard", "Linda", "Lisa", "Lucy", "Mark",
    "Martin", "Mary", "Matt", "Michael", "Michelle", "Mike", "Nancy", "Nick", "Norman", "Patrick",
    "Paul", "Peter", "Philip", "Rachel", "Ralph", "Richard", "Rick", "Robert", "Roger", "Ron", "Ruth",
    "Sam", "Sarah", "Scott", "Sean", "Stephen", "Steve", "Susan", "Thomas", "Tim", "Tom", "Tony",
    "Victoria", "Walter", "William", "Akira", "Hiroshi", "Kenji", "Yuki", "Lars", "Karel", "Jan",
    "Marco", "Luca", "Pierre", "Hans", "Ingrid", "Olga", "Igor", "Pavel", "Carlos", "Miguel",
)  # fmt: skip
ACCENTED_FIRST_NAMES = (
    "André", "José", "Céline", "Renée", "Jørgen", "Søren", "Álvaro", "Yûichi", "Väinö", "Zoë",
    "Chloé", "Björn", "Mónica", "Inés", "Raúl", "François", "Jérôme", "Héctor", "Ángeles", "Kôko",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Allen", "Anderson", "Baker", "Barnes", "Bell", "Bennett", "Brooks", "Brown", "Butler",
    "Campbell", "Carter", "Clark", "Collins", "Cook", "Cooper", "Cox", "Davis", "Dunne", "Edwards",
    "Evans", "Fisher", "Ford", "Foster", "Gibson", "Gordon", "Graham", "Gray", "Green", "Hall",
    "Hamill", "Harris", "Hayes", "Hill", "Howard", "Hughes", "Hunt", "Jackson", "James", "Jenkins",
    "Johnson", "Jones", "Kelly", "Kennedy", "King", "Knight", "Lane", "Lee", "Lewis", "Lucas",
    "Marshall", "Martin", "Mason", "Miller", "Mitchell", "Moore", "Morgan", "Morris", "Murphy",
    "Nelson", "Nichols", "Owen", "Palmer", "Parker", "Perry", "Phillips", "Porter", "Powell", "Price",
    "Reed", "Reynolds", "Richards", "Roberts", "Robinson", "Rogers", "Ross", "Russell", "Scott",
    "Shaw", "Simpson", "Smith", "Spencer", "Stewart", "Stone", "Sullivan", "Taylor", "Thomas",
    "Thompson", "Turner", "Walker", "Ward", "Watson", "Webb", "Wells", "West", "White", "Williams",
    "Wilson", "Wood", "Wright", "Young", "Tanaka", "Suzuki", "Nakamura", "Larsen", "Nielsen",
    "Novak", "Rossi", "Bianchi", "Dubois", "Moreau", "Schmidt", "Weber", "Ivanov", "Petrov",
    "Garcia", "Lopez", "Martinez", "Kowalski", "Andersson", "Lindqvist", "Kaufman", "Abrams",
)  # fmt: skip
ACCENTED_LAST_NAMES = (
    "Peña", "Treviño", "Verdú", "Mollà", "Béhat", "Møller", "Brüel", "Gråbøl", "Safránková", "Mädel",
    "Ôtsuka", "Müller", "Núñez", "Gómez", "Sánchez", "Zíma", "Mínguez", "Deyriès", "Endô", "Smolík",
)  # fmt: skip
QUOTED_LAST_NAMES = ("O'Bannon", "O'Reilly", "O'Connor", "O'Hara", "O'Ross", "D'Amico", "Nyong'o")
NICKNAMES = ("Giz", "Big Boy", "Gabby", "Primo", "So", "T.C.", "Doc")
PARTICLES = ("de", "del", "van", "von", "da", "di")
MONONYMS = ("Buronson", "DTeflon", "Madonna", "Prince", "Cher", "Moebius", "Vangelis", "Sting")

TITLE_NOUNS = (
    "Wars", "Trek", "Command", "Crossed", "Runners", "Kid", "Maker", "Hotel", "Sheriffs", "Tours",
    "Racers", "Man", "Child", "Light", "Quest", "Legacy", "Voyage", "Gate", "Fleet", "Academy",
    "Patrol", "Dream", "Fever", "Search", "Night", "Girl", "Boy", "City", "Island", "Road",
)  # fmt: skip
TITLE_ADJECTIVES = (
    "Lone", "Bright", "Dark", "Flaming", "Evening", "Morning", "Falling", "Shooting", "North", "Rock",
    "Pop", "Last", "Lucky", "Blue", "Red", "Silver", "Golden", "Lost", "Little", "Big", "Five",
    "Dying", "Distant", "Frozen", "Wandering", "Rising", "Black", "Hidden", "Brave", "Broken",
)  # fmt: skip
TITLE_SUBTITLES = (
    "A New Hope", "The Next Generation", "The Search", "Origins", "Revelations", "The Complete Saga",
    "The Final Frontier", "Beyond the Rim", "Of Gods and Men", "The Adventure Begins", "Renegades",
    "The Clone Wars", "Resurgence", "The Lost Episodes", "Legends", "Into Darkness", "Nemesis",
    "The Animated Series", "Behind the Magic", "Holiday Special", "First Contact", "Insurrection",
)  # fmt: skip
# Short and long forms mixed so lengths spread like the real titles' (median 22, up to 80).
TITLE_FORMS = (
    "Star {noun}: Episode {roman} - {subtitle}",
    "Star {noun}: {subtitle}",
    "Star {noun}: {subtitle}",
    "Star {noun} {roman}: The {adjective} {other}",
    "{adjective} Star",
    "The {adjective} Star",
    "A {adjective} Star Is Born",
    "{noun} of the {adjective} Star",
    "The {adjective} Star: {subtitle}",
    "Star {noun} {roman}",
    "The Star {noun}",
    "{adjective} {noun}",
    "{last} {n}: {adjective} Star",
    "{adjective} Star {noun}: The {other} of {last}",
    "{last} and the {adjective} Star",
)
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX")
FOREIGN_TITLES = (
    "Star académie", "Unser Star für Oslo", "À la recherche de la nouvelle star", "È nata una star?",
    "Top star magazín", "Star suburb: La banlieue des étoiles", "Starmania. Österreich sucht den Star",
    "Beam Me Up - Die große Star Trek Show", "Star Trek: D·A·C", "Masters of Teräs Käsi",
)  # fmt: skip

JOBS = (
    "pilot", "smuggler", "detective", "farm boy", "singer", "scientist", "soldier", "thief",
    "journalist", "teacher", "doctor", "senator", "bounty hunter", "dancer", "engineer", "cowboy",
)  # fmt: skip
PLACES = (
    "a distant planet", "Texas", "the outskirts of London", "a small town in Iowa", "Hollywood",
    "the Delta Quadrant", "New York", "a mining colony", "the Neutral Zone", "Tokyo", "Paris",
    "a space station", "the Canadian Rockies", "Sicily", "Calcutta", "the frozen north",
)  # fmt: skip
ACCENTED_PLACES = ("Malmö", "São Paulo", "Reykjavík", "Zürich", "Kraków", "Besançon", "Córdoba", "Tromsø")
GOALS = (
    "save the galaxy", "find a missing sister", "win the championship", "clear a family name",
    "stop an invasion", "rescue a captured princess", "return home", "uncover a conspiracy",
    "make it in show business", "defend the town", "repair the ship", "deliver a secret message",
    "pay off an old debt", "survive the winter", "reunite the band", "bring peace to the colonies",
)  # fmt: skip
THREATS = (
    "the Empire strikes", "the money runs out", "the storm arrives", "the election", "time runs out",
    "the rebels attack", "the studio closes", "the wormhole collapses", "the fleet arrives",
)  # fmt: skip
THINGS = (
    "an ancient map", "a stolen droid", "a talking dog", "a meteor", "a forgotten diary",
    "a mysterious signal", "a cursed guitar", "a hidden fortune", "a time machine", "a secret code",
)  # fmt: skip
GROUPS = ("Federation", "studio", "council", "crew", "family", "band", "academy", "resistance")

# Plain sentences: no quote of any kind, so the rate of quoted text is set below, not by chance.
PLAIN_SENTENCES = (
    "{a}, a {job} from {place}, must {goal}.",
    "When {a} discovers {thing}, everything changes.",
    "Years later, {a} returns to {place} to {goal}.",
    "{a} and {b} team up to {goal} before {threat}.",
    "The {group} sends {a} on a mission to {place}.",
    "Nobody believes {a} until {threat}.",
    "Together with {b}, {a} sets out to {goal}.",
    "Meanwhile {b}, a {job}, plans to {goal} first.",
    "Set in {year}, the story follows {a}, a young {job}.",
    "Trapped in {place}, {a} and {b} must {goal}.",
    "Only {a} can {goal}, but the {group} stands in the way.",
    "A {job} named {a} finds {thing} in {place}.",
)
APOSTROPHE_SENTENCES = (
    "But {a}'s past catches up with the {group}.",
    "{a} doesn't trust {b}, and the {group} has plans of its own.",
    "It's {year}, and {a} can't {goal} alone.",
    "The {group}'s only hope is {a}.",
)
QUOTED_SENTENCES = (
    'Based on the novel "{title}" by {b}.',
    'The {group} calls {a} "the {job}".',
    'A sequel to "{title}".',
)
SHORT_DESCRIPTIONS = (
    "A biography of {a}.",
    "A look at the out-takes of the film.",
    "A documentary about {a}.",
    "A TV movie based on {title}.",
    "Junior version of {title}.",
)
# Sentences per description are log-normal: median 3, a long tail up to essay length, as measured.
SENTENCES_MU = 1.25
SENTENCES_SIGMA = 0.8
MAX_SENTENCES = 40
APOSTROPHE_RATE = 0.38
DOUBLE_QUOTE_RATE = 0.15
SHORT_RATE = 0.03
ACCENT_RATE = 0.02
