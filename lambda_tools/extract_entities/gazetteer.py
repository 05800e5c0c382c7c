"""Small word lists behind the named-entity heuristics: places, first names, organisation cues."""

from __future__ import annotations


def _set(text: str) -> frozenset[str]:
    return frozenset(item.strip() for item in text.split("|") if item.strip())


COUNTRIES = _set("""Afghanistan|Albania|Algeria|Andorra|Angola|Argentina|Armenia|Australia|Austria|Azerbaijan|Bahamas|
Bahrain|Bangladesh|Barbados|Belarus|Belgium|Belize|Benin|Bhutan|Bolivia|Bosnia and Herzegovina|Botswana|Brazil|Brunei|
Bulgaria|Burkina Faso|Burundi|Cambodia|Cameroon|Canada|Chad|Chile|China|Colombia|Congo|Costa Rica|Croatia|Cuba|Cyprus|
Czech Republic|Czechia|Denmark|Djibouti|Dominican Republic|Ecuador|Egypt|El Salvador|Eritrea|Estonia|Eswatini|Ethiopia|
Fiji|Finland|France|Gabon|Gambia|Georgia|Germany|Ghana|Greece|Guatemala|Guinea|Guyana|Haiti|Honduras|Hungary|Iceland|
India|Indonesia|Iran|Iraq|Ireland|Israel|Italy|Ivory Coast|Jamaica|Japan|Jordan|Kazakhstan|Kenya|Kosovo|Kuwait|
Kyrgyzstan|Laos|Latvia|Lebanon|Lesotho|Liberia|Libya|Liechtenstein|Lithuania|Luxembourg|Madagascar|Malawi|Malaysia|
Maldives|Mali|Malta|Mauritania|Mauritius|Mexico|Moldova|Monaco|Mongolia|Montenegro|Morocco|Mozambique|Myanmar|Namibia|
Nepal|Netherlands|New Zealand|Nicaragua|Niger|Nigeria|North Korea|North Macedonia|Norway|Oman|Pakistan|Palestine|Panama|
Papua New Guinea|Paraguay|Peru|Philippines|Poland|Portugal|Qatar|Romania|Russia|Rwanda|Saudi Arabia|Senegal|Serbia|
Sierra Leone|Singapore|Slovakia|Slovenia|Somalia|South Africa|South Korea|South Sudan|Spain|Sri Lanka|Sudan|Suriname|
Sweden|Switzerland|Syria|Taiwan|Tajikistan|Tanzania|Thailand|Togo|Trinidad and Tobago|Tunisia|Turkey|Turkmenistan|
Uganda|Ukraine|United Arab Emirates|UAE|United Kingdom|UK|Britain|Great Britain|England|Scotland|Wales|
Northern Ireland|United States|United States of America|USA|US|U.S.|America|Uruguay|Uzbekistan|Venezuela|Vietnam|Yemen|
Zambia|Zimbabwe|Korea|Holland""")

CITIES = _set("""Amsterdam|Athens|Atlanta|Auckland|Austin|Baghdad|Bangalore|Bengaluru|Bangkok|Barcelona|Beijing|Beirut|
Berlin|Bogota|Boston|Brisbane|Brussels|Bucharest|Budapest|Buenos Aires|Cairo|Calgary|Cape Town|Caracas|Chennai|Chicago|
Copenhagen|Dallas|Delhi|New Delhi|Denver|Detroit|Dhaka|Doha|Dubai|Dublin|Edinburgh|Frankfurt|Geneva|Glasgow|Hamburg|
Hanoi|Helsinki|Ho Chi Minh City|Hong Kong|Honolulu|Houston|Hyderabad|Istanbul|Jakarta|Jerusalem|Johannesburg|Karachi|
Kyiv|Kiev|Kolkata|Kuala Lumpur|Lagos|Lahore|Las Vegas|Lima|Lisbon|London|Los Angeles|Lyon|Madrid|Manchester|Manila|
Marseille|Melbourne|Mexico City|Miami|Milan|Minneapolis|Montreal|Moscow|Mumbai|Munich|Nairobi|Naples|New Orleans|
New York|New York City|Osaka|Oslo|Ottawa|Paris|Perth|Philadelphia|Phoenix|Portland|Prague|Rio de Janeiro|Riyadh|Rome|
Rotterdam|San Diego|San Francisco|San Jose|Santiago|Sao Paulo|São Paulo|Seattle|Seoul|Shanghai|Shenzhen|
St. Petersburg|St. Louis|Stockholm|Sydney|Taipei|Tehran|Tel Aviv|Tokyo|Toronto|Vancouver|Venice|Vienna|Warsaw|Washington|
Washington, D.C.|Wellington|Zurich|Cambridge|Oxford|Silicon Valley|Brooklyn|Manhattan""")

REGIONS = _set("""Africa|Antarctica|Asia|Europe|North America|South America|Latin America|Oceania|Middle East|
Southeast Asia|East Asia|Central Asia|Western Europe|Eastern Europe|Scandinavia|Balkans|Caribbean|Mediterranean|
Pacific|Atlantic|Arctic|Sahara|Himalayas|Alps|Amazon River|Nile|Alabama|Alaska|Arizona|Arkansas|California|Colorado|
Connecticut|Delaware|Florida|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|
Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|
North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|
Texas|Utah|Vermont|Virginia|West Virginia|Wisconsin|Wyoming|Ontario|Quebec|British Columbia|Alberta|Bavaria|
Catalonia|Tuscany|Siberia|Patagonia|Queensland|Victoria|Tasmania|EU|European Union""")

LOCATIONS = COUNTRIES | CITIES | REGIONS

LOCATION_SUFFIXES = _set("""River|Lake|Mountains|Mountain|Mount|County|Province|Street|Avenue|Road|Boulevard|Island|
Islands|Valley|Bay|Ocean|Sea|Desert|Peninsula|Coast|Canyon|Falls|Square|Harbor|Harbour|Strait|Gulf|Heights|Beach|
District|Region|Prefecture|Airport""")

ORG_SUFFIXES = _set("""Inc|Inc.|Corp|Corp.|Corporation|Ltd|Ltd.|LLC|LLP|GmbH|AG|SA|S.A.|PLC|plc|Co|Co.|Company|Group|
Holdings|Bank|University|Institute|Foundation|Association|Agency|Ministry|Department|Committee|Council|Commission|
Federation|Organization|Organisation|Laboratories|Laboratory|Labs|Technologies|Technology|Systems|Software|Partners|
Capital|Ventures|Airlines|Airways|Motors|Pharmaceuticals|Services|Solutions|Networks|Media|News|Times|Post|Journal|
Press|School|College|Hospital|Church|Party|Club|FC|Fund|Trust|Authority|Bureau|Board|Court|Senate|Parliament|Congress|
Union|League|Alliance|Society|Institution|Consortium|Cooperative|Industries|Enterprises|Studios|Records|Publishing|
Project|Academy|Center|Centre|Service|Office|Police|Army|Navy|Force|Guard|Reserve|Exchange|Markets|Insurance|
Bancorp|Telecom|Communications|Energy|Electric|Petroleum|Oil""")

ORG_HEADS = _set("""University|Bank|Department|Ministry|Institute|Board|Bureau|Office|Commission|Council|College|
School|Museum|Church|House|Federal Reserve|Court""")

KNOWN_ORGS = _set("""Google|Alphabet|Microsoft|Amazon|Apple|Meta|Facebook|Instagram|WhatsApp|OpenAI|Anthropic|Netflix|
Tesla|SpaceX|Intel|Nvidia|NVIDIA|AMD|Oracle|Samsung|Sony|Toyota|Honda|Siemens|Reuters|Bloomberg|Twitter|LinkedIn|
GitHub|GitLab|Salesforce|Adobe|IBM|Cisco|Uber|Airbnb|Spotify|Shopify|Stripe|PayPal|Visa|Mastercard|Walmart|Boeing|
Airbus|Volkswagen|BMW|Mercedes-Benz|Nike|Pfizer|Moderna|Goldman Sachs|Morgan Stanley|JPMorgan|BlackRock|Berkshire Hathaway|
Alibaba|Tencent|Baidu|Huawei|Xiaomi|ByteDance|TikTok|Wikipedia|Mozilla|Red Hat|Canonical|Dropbox|Slack|Zoom|Atlassian|
Databricks|Snowflake|Cloudflare|Akamai|Docker|HashiCorp|Kubernetes Foundation|Python Software Foundation|Linux Foundation|
Apache Software Foundation|NASA|FBI|CIA|NATO|WHO|UNESCO|UNICEF|IMF|World Bank|United Nations|UN|OECD|WTO|FDA|SEC|
European Commission|European Central Bank|Federal Reserve|BBC|CNN|The New York Times|The Guardian|The Economist|
Financial Times|Wall Street Journal|Associated Press|AWS|Amazon Web Services|Azure|Google Cloud|Harvard|Stanford|MIT|
Yale|Princeton|Oxford University|Cambridge University|Accenture|Deloitte|McKinsey|KPMG|PwC|EY|Ford|General Motors|
General Electric|Coca-Cola|PepsiCo|Unilever|Nestle|Nestlé|Shell|BP|ExxonMobil|Chevron|Hugging Face|DeepMind|Mistral""")

PERSON_TITLES = _set("""Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Professor|Sir|Dame|Lord|Lady|President|Vice President|Senator|
Governor|Mayor|Minister|Prime Minister|Chancellor|Judge|Justice|Rev|Reverend|Father|Sister|Captain|Capt|General|Gen|
Colonel|Col|Lieutenant|Lt|Sergeant|Sgt|Officer|Detective|CEO|CTO|CFO|COO|Chairman|Chairwoman|Chair|Director|King|
Queen|Prince|Princess|Pope|Rabbi|Imam|Coach|Agent|Ambassador|Secretary|Representative|Rep|Sen|Gov""")

FIRST_NAMES = _set("""Aaron|Adam|Adrian|Ahmed|Aisha|Alan|Albert|Alex|Alexander|Alexandra|Alice|Alicia|Amanda|Amelia|Amir|
Amy|Ana|Andrea|Andrew|Angela|Anna|Anne|Anthony|Antonio|Arjun|Arthur|Ashley|Barbara|Ben|Benjamin|Beth|Bill|Bob|Brad|
Brian|Bruce|Carl|Carlos|Carol|Caroline|Catherine|Charles|Charlie|Charlotte|Chen|Chloe|Chris|Christina|Christine|
Christopher|Claire|Daniel|David|Deborah|Dennis|Diana|Diego|Dmitri|Donald|Dorothy|Douglas|Edward|Elena|Eli|Elizabeth|
Ella|Emily|Emma|Eric|Ethan|Eva|Fatima|Felix|Fernando|Frank|Gabriel|Gary|George|Grace|Greg|Hannah|Harry|Heather|Helen|
Henry|Hiroshi|Hugo|Ian|Isabella|Ivan|Jack|Jacob|James|Jane|Janet|Jason|Javier|Jean|Jeff|Jeffrey|Jennifer|Jessica|Jim|
Joan|Joe|John|Jonathan|Jose|José|Joseph|Joshua|Juan|Julia|Julie|Justin|Karen|Kate|Katherine|Kelly|Ken|Kenneth|Kevin|
Kim|Laura|Lauren|Leo|Li|Linda|Lisa|Liam|Lucas|Lucy|Luis|Maria|María|Mark|Martin|Mary|Matthew|Max|Maya|Megan|Mei|
Melissa|Michael|Michelle|Mike|Mohammed|Muhammad|Nancy|Natalie|Nathan|Nicholas|Nicole|Noah|Olga|Oliver|Olivia|Omar|
Oscar|Pablo|Patricia|Patrick|Paul|Pedro|Peter|Philip|Priya|Rachel|Rahul|Raj|Ravi|Rebecca|Richard|Robert|Roberto|Ryan|
Sam|Samantha|Samuel|Sandra|Sara|Sarah|Scott|Sean|Sergey|Sharon|Sofia|Sophia|Sophie|Stephanie|Stephen|Steve|Steven|
Susan|Takeshi|Tara|Thomas|Tim|Timothy|Tom|Tony|Victor|Victoria|Vincent|Walter|Wei|William|Xavier|Yuki|Zoe|Guido|Linus|
Ada|Grace|Alan|Barack|Joe|Kamala|Angela|Emmanuel|Elon|Jeff|Satya|Sundar|Tim|Mark|Sam|Jensen|Warren""")

CONNECTORS = frozenset({"of", "the", "de", "la", "le", "van", "von", "der", "den", "da", "di", "du", "del", "&", "for",
                        "and"})

WEEKDAYS = _set("Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday")
MONTHS = _set("January|February|March|April|May|June|July|August|September|October|November|December")
