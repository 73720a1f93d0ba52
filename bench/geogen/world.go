package main

// The places and networks the generated databases talk about. Country,
// continent and city GeoNames ids and coordinates follow GeoNames closely
// enough to look real; subdivision ids are best effort. None of it is meant
// to be authoritative: these databases exist to exercise riskd, not to
// locate anyone.

type continent struct {
	code string
	id   uint32
	name string
}

var continents = map[string]continent{
	"AF": {"AF", 6255146, "Africa"},
	"AS": {"AS", 6255147, "Asia"},
	"EU": {"EU", 6255148, "Europe"},
	"NA": {"NA", 6255149, "North America"},
	"OC": {"OC", 6255151, "Oceania"},
	"SA": {"SA", 6255150, "South America"},
}

type country struct {
	iso       string
	id        uint32
	name      string
	continent string
	eu        bool
}

var countries = map[string]country{
	"AE": {"AE", 290557, "United Arab Emirates", "AS", false},
	"AR": {"AR", 3865483, "Argentina", "SA", false},
	"AT": {"AT", 2782113, "Austria", "EU", true},
	"AU": {"AU", 2077456, "Australia", "OC", false},
	"BE": {"BE", 2802361, "Belgium", "EU", true},
	"BR": {"BR", 3469034, "Brazil", "SA", false},
	"BT": {"BT", 1252634, "Bhutan", "AS", false},
	"CA": {"CA", 6251999, "Canada", "NA", false},
	"CH": {"CH", 2658434, "Switzerland", "EU", false},
	"CN": {"CN", 1814991, "China", "AS", false},
	"CO": {"CO", 3686110, "Colombia", "SA", false},
	"CZ": {"CZ", 3077311, "Czechia", "EU", true},
	"DE": {"DE", 2921044, "Germany", "EU", true},
	"DK": {"DK", 2623032, "Denmark", "EU", true},
	"EG": {"EG", 357994, "Egypt", "AF", false},
	"ES": {"ES", 2510769, "Spain", "EU", true},
	"FI": {"FI", 660013, "Finland", "EU", true},
	"FR": {"FR", 3017382, "France", "EU", true},
	"GB": {"GB", 2635167, "United Kingdom", "EU", false},
	"HK": {"HK", 1819730, "Hong Kong", "AS", false},
	"ID": {"ID", 1643084, "Indonesia", "AS", false},
	"IE": {"IE", 2963597, "Ireland", "EU", true},
	"IN": {"IN", 1269750, "India", "AS", false},
	"IT": {"IT", 3175395, "Italy", "EU", true},
	"JP": {"JP", 1861060, "Japan", "AS", false},
	"KE": {"KE", 192950, "Kenya", "AF", false},
	"KR": {"KR", 1835841, "South Korea", "AS", false},
	"MX": {"MX", 3996063, "Mexico", "NA", false},
	"NG": {"NG", 2328926, "Nigeria", "AF", false},
	"NL": {"NL", 2750405, "Netherlands", "EU", true},
	"NO": {"NO", 3144096, "Norway", "EU", false},
	"NZ": {"NZ", 2186224, "New Zealand", "OC", false},
	"PL": {"PL", 798544, "Poland", "EU", true},
	"PT": {"PT", 2264397, "Portugal", "EU", true},
	"RO": {"RO", 798549, "Romania", "EU", true},
	"RU": {"RU", 2017370, "Russia", "EU", false},
	"SE": {"SE", 2661886, "Sweden", "EU", true},
	"SG": {"SG", 1880251, "Singapore", "AS", false},
	"TR": {"TR", 298795, "Turkey", "AS", false},
	"UA": {"UA", 690791, "Ukraine", "EU", false},
	"US": {"US", 6252001, "United States", "NA", false},
	"ZA": {"ZA", 953987, "South Africa", "AF", false},
}

type subdivision struct {
	iso  string
	id   uint32
	name string
}

type city struct {
	name     string
	id       uint32
	country  string
	sub      subdivision // iso "" = none
	lat, lon float64
	tz       string
	postal   string // a postal code prefix; "" where MaxMind has none
	weight   int    // relative share of networks (roughly, of internet users)
}

// cities are the places the synthetic networks are spread over. Weights make
// the big markets dominate the way they do in real login traffic.
var cities = []city{
	{"New York", 5128581, "US", subdivision{"NY", 5128638, "New York"}, 40.7143, -74.006, "America/New_York", "100", 60},
	{"Los Angeles", 5368361, "US", subdivision{"CA", 5332921, "California"}, 34.0522, -118.2437, "America/Los_Angeles", "900", 45},
	{"Chicago", 4887398, "US", subdivision{"IL", 4896861, "Illinois"}, 41.85, -87.65, "America/Chicago", "606", 35},
	{"Dallas", 4684888, "US", subdivision{"TX", 4736286, "Texas"}, 32.7831, -96.8067, "America/Chicago", "752", 30},
	{"Miami", 4164138, "US", subdivision{"FL", 4155751, "Florida"}, 25.7743, -80.1937, "America/New_York", "331", 25},
	{"Seattle", 5809844, "US", subdivision{"WA", 5815135, "Washington"}, 47.6062, -122.3321, "America/Los_Angeles", "981", 20},
	{"San Francisco", 5391959, "US", subdivision{"CA", 5332921, "California"}, 37.7749, -122.4194, "America/Los_Angeles", "941", 20},
	{"Milton", 5803556, "US", subdivision{"WA", 5815135, "Washington"}, 47.2513, -122.3149, "America/Los_Angeles", "98354", 2},
	{"Toronto", 6167865, "CA", subdivision{"ON", 6093943, "Ontario"}, 43.7001, -79.4163, "America/Toronto", "M5", 20},
	{"Montreal", 6077243, "CA", subdivision{"QC", 6115047, "Quebec"}, 45.5088, -73.5878, "America/Toronto", "H2", 12},
	{"Vancouver", 6173331, "CA", subdivision{"BC", 5909050, "British Columbia"}, 49.2497, -123.1193, "America/Vancouver", "V6", 10},
	{"Mexico City", 3530597, "MX", subdivision{"CMX", 3527646, "Mexico City"}, 19.4285, -99.1277, "America/Mexico_City", "06", 20},
	{"São Paulo", 3448439, "BR", subdivision{"SP", 3448433, "São Paulo"}, -23.5475, -46.6361, "America/Sao_Paulo", "01", 30},
	{"Buenos Aires", 3435910, "AR", subdivision{"C", 3433955, "Buenos Aires F.D."}, -34.6132, -58.3772, "America/Argentina/Buenos_Aires", "C10", 12},
	{"Bogotá", 3688689, "CO", subdivision{"DC", 3688685, "Bogota D.C."}, 4.6097, -74.0817, "America/Bogota", "11", 10},
	{"London", 2643743, "GB", subdivision{"ENG", 6269131, "England"}, 51.5085, -0.1257, "Europe/London", "EC1", 45},
	{"Manchester", 2643123, "GB", subdivision{"ENG", 6269131, "England"}, 53.4809, -2.2374, "Europe/London", "M1", 15},
	{"Boxford", 2655045, "GB", subdivision{"ENG", 6269131, "England"}, 51.75, -1.25, "Europe/London", "OX1", 1},
	{"Dublin", 2964574, "IE", subdivision{"L", 7288565, "Leinster"}, 53.3331, -6.2489, "Europe/Dublin", "D02", 8},
	{"Paris", 2988507, "FR", subdivision{"IDF", 3012874, "Île-de-France"}, 48.8534, 2.3488, "Europe/Paris", "750", 40},
	{"Lyon", 2996944, "FR", subdivision{"ARA", 11071625, "Auvergne-Rhône-Alpes"}, 45.7485, 4.8467, "Europe/Paris", "690", 12},
	{"Marseille", 2995469, "FR", subdivision{"PAC", 2985244, "Provence-Alpes-Côte d'Azur"}, 43.2970, 5.3811, "Europe/Paris", "130", 10},
	{"Berlin", 2950159, "DE", subdivision{"BE", 2950157, "Land Berlin"}, 52.5244, 13.4105, "Europe/Berlin", "10", 30},
	{"Munich", 2867714, "DE", subdivision{"BY", 2951839, "Bavaria"}, 48.1374, 11.5755, "Europe/Berlin", "80", 18},
	{"Hamburg", 2911298, "DE", subdivision{"HH", 2911297, "Hamburg"}, 53.5507, 9.993, "Europe/Berlin", "20", 15},
	{"Amsterdam", 2759794, "NL", subdivision{"NH", 2749879, "North Holland"}, 52.374, 4.8897, "Europe/Amsterdam", "10", 15},
	{"Brussels", 2800866, "BE", subdivision{"BRU", 2800867, "Brussels Capital"}, 50.8505, 4.3488, "Europe/Brussels", "10", 8},
	{"Madrid", 3117735, "ES", subdivision{"MD", 3117732, "Madrid"}, 40.4165, -3.7026, "Europe/Madrid", "280", 20},
	{"Barcelona", 3128760, "ES", subdivision{"CT", 3336901, "Catalonia"}, 41.3888, 2.159, "Europe/Madrid", "080", 15},
	{"Lisbon", 2267057, "PT", subdivision{"11", 2267056, "Lisbon"}, 38.7167, -9.1333, "Europe/Lisbon", "1000", 8},
	{"Rome", 3169070, "IT", subdivision{"62", 3174976, "Lazio"}, 41.8919, 12.5113, "Europe/Rome", "001", 18},
	{"Milan", 3173435, "IT", subdivision{"25", 3174618, "Lombardy"}, 45.4643, 9.1895, "Europe/Rome", "201", 18},
	{"Zurich", 2657896, "CH", subdivision{"ZH", 2657895, "Zurich"}, 47.3667, 8.55, "Europe/Zurich", "80", 8},
	{"Vienna", 2761369, "AT", subdivision{"9", 2761367, "Vienna"}, 48.2085, 16.3721, "Europe/Vienna", "10", 8},
	{"Stockholm", 2673730, "SE", subdivision{"AB", 2673722, "Stockholm"}, 59.3294, 18.0687, "Europe/Stockholm", "11", 10},
	{"Linköping", 2694762, "SE", subdivision{"E", 2685867, "Östergötland County"}, 58.4167, 15.6167, "Europe/Stockholm", "58", 2},
	{"Oslo", 3143244, "NO", subdivision{"03", 3143242, "Oslo County"}, 59.9127, 10.7461, "Europe/Oslo", "01", 6},
	{"Copenhagen", 2618425, "DK", subdivision{"84", 6418538, "Capital Region"}, 55.6759, 12.5655, "Europe/Copenhagen", "1", 6},
	{"Helsinki", 658225, "FI", subdivision{"18", 830709, "Uusimaa"}, 60.1695, 24.9354, "Europe/Helsinki", "00", 5},
	{"Warsaw", 756135, "PL", subdivision{"14", 858787, "Mazovia"}, 52.2298, 21.0118, "Europe/Warsaw", "00", 12},
	{"Prague", 3067696, "CZ", subdivision{"10", 3067695, "Prague"}, 50.088, 14.4208, "Europe/Prague", "110", 6},
	{"Bucharest", 683506, "RO", subdivision{"B", 683504, "Bucure\u0219ti"}, 44.4323, 26.1063, "Europe/Bucharest", "01", 6},
	{"Kyiv", 703448, "UA", subdivision{"30", 703447, "Kyiv City"}, 50.4547, 30.5238, "Europe/Kyiv", "01", 8},
	{"Moscow", 524901, "RU", subdivision{"MOW", 524894, "Moscow"}, 55.7522, 37.6156, "Europe/Moscow", "101", 25},
	{"Istanbul", 745044, "TR", subdivision{"34", 745042, "Istanbul"}, 41.0138, 28.9497, "Europe/Istanbul", "34", 18},
	{"Cairo", 360630, "EG", subdivision{"C", 360631, "Cairo"}, 30.0626, 31.2497, "Africa/Cairo", "", 12},
	{"Lagos", 2332459, "NG", subdivision{"LA", 2332453, "Lagos"}, 6.4541, 3.3947, "Africa/Lagos", "", 12},
	{"Nairobi", 184745, "KE", subdivision{"30", 184742, "Nairobi County"}, -1.2833, 36.8167, "Africa/Nairobi", "", 6},
	{"Johannesburg", 993800, "ZA", subdivision{"GT", 1085594, "Gauteng"}, -26.2023, 28.0436, "Africa/Johannesburg", "2000", 10},
	{"Dubai", 292223, "AE", subdivision{"DU", 292224, "Dubai"}, 25.0772, 55.3093, "Asia/Dubai", "", 8},
	{"Mumbai", 1275339, "IN", subdivision{"MH", 1264418, "Maharashtra"}, 19.0728, 72.8826, "Asia/Kolkata", "400", 30},
	{"Delhi", 1273294, "IN", subdivision{"DL", 1273293, "National Capital Territory of Delhi"}, 28.6519, 77.2315, "Asia/Kolkata", "110", 30},
	{"Bengaluru", 1277333, "IN", subdivision{"KA", 1267701, "Karnataka"}, 12.9719, 77.5937, "Asia/Kolkata", "560", 20},
	{"Singapore", 1880252, "SG", subdivision{"", 0, ""}, 1.2897, 103.8501, "Asia/Singapore", "01", 12},
	{"Jakarta", 1642911, "ID", subdivision{"JK", 1642907, "Jakarta"}, -6.2146, 106.8451, "Asia/Jakarta", "10", 18},
	{"Hong Kong", 1819729, "HK", subdivision{"", 0, ""}, 22.2783, 114.1747, "Asia/Hong_Kong", "", 10},
	{"Shanghai", 1796236, "CN", subdivision{"SH", 1796231, "Shanghai"}, 31.2222, 121.4581, "Asia/Shanghai", "200", 30},
	{"Beijing", 1816670, "CN", subdivision{"BJ", 2038349, "Beijing"}, 39.9075, 116.3972, "Asia/Shanghai", "100", 30},
	{"Changchun", 2038180, "CN", subdivision{"22", 2036500, "Jilin Sheng"}, 43.88, 125.3228, "Asia/Harbin", "130", 5},
	{"Seoul", 1835848, "KR", subdivision{"11", 1835847, "Seoul"}, 37.566, 126.9784, "Asia/Seoul", "04", 20},
	{"Tokyo", 1850147, "JP", subdivision{"13", 1850144, "Tokyo"}, 35.6895, 139.6917, "Asia/Tokyo", "100", 35},
	{"Osaka", 1853909, "JP", subdivision{"27", 1853904, "Osaka"}, 34.6937, 135.5022, "Asia/Tokyo", "530", 15},
	{"Sydney", 2147714, "AU", subdivision{"NSW", 2155400, "New South Wales"}, -33.8678, 151.2073, "Australia/Sydney", "2000", 15},
	{"Melbourne", 2158177, "AU", subdivision{"VIC", 2145234, "Victoria"}, -37.814, 144.9633, "Australia/Melbourne", "3000", 12},
	{"Auckland", 2193733, "NZ", subdivision{"AUK", 2193734, "Auckland"}, -36.8485, 174.7635, "Pacific/Auckland", "10", 5},
}

// autonomousSystem is one ASN record; hosting marks data-centre networks,
// where the synthetic anonymous ranges are placed.
type autonomousSystem struct {
	number  uint32
	org     string // "" for the few ASNs MaxMind ships without an organisation
	country string
	hosting bool
}

var autonomousSystems = []autonomousSystem{
	{7922, "Comcast Cable Communications, LLC", "US", false},
	{7018, "AT&T Services, Inc.", "US", false},
	{701, "Verizon Business", "US", false},
	{209, "CenturyLink Communications, LLC", "US", false},
	{20115, "Charter Communications", "US", false},
	{22773, "Cox Communications Inc.", "US", false},
	{812, "Rogers Communications Canada Inc.", "CA", false},
	{577, "Bell Canada", "CA", false},
	{8151, "UNINET", "MX", false},
	{28573, "Claro NXT Telecomunicacoes Ltda", "BR", false},
	{18881, "TELEFONICA BRASIL S.A", "BR", false},
	{7303, "Telecom Argentina S.A.", "AR", false},
	{3816, "COLOMBIA TELECOMUNICACIONES S.A. ESP", "CO", false},
	{2856, "British Telecommunications PLC", "GB", false},
	{5089, "Virgin Media Limited", "GB", false},
	{5466, "Eircom Limited", "IE", false},
	{3215, "Orange S.A.", "FR", false},
	{12322, "Free SAS", "FR", false},
	{3320, "Deutsche Telekom AG", "DE", false},
	{3209, "Vodafone GmbH", "DE", false},
	{1136, "KPN B.V.", "NL", false},
	{5432, "Proximus NV", "BE", false},
	{3352, "TELEFONICA DE ESPANA S.A.U.", "ES", false},
	{3243, "MEO - SERVICOS DE COMUNICACOES E MULTIMEDIA S.A.", "PT", false},
	{3269, "Telecom Italia S.p.A.", "IT", false},
	{3303, "Swisscom (Schweiz) AG", "CH", false},
	{8447, "A1 Telekom Austria AG", "AT", false},
	{3301, "Telia Company AB", "SE", false},
	{29518, "Bredband2 AB", "SE", false},
	{2119, "Telenor Norge AS", "NO", false},
	{3292, "TDC Holding A/S", "DK", false},
	{1759, "Telia Finland Oyj", "FI", false},
	{5617, "Orange Polska Spolka Akcyjna", "PL", false},
	{5610, "O2 Czech Republic, a.s.", "CZ", false},
	{8708, "RCS & RDS SA", "RO", false},
	{15895, "Kyivstar PJSC", "UA", false},
	{12389, "PJSC Rostelecom", "RU", false},
	{9121, "Turk Telekom", "TR", false},
	{8452, "TE Data", "EG", false},
	{29465, "MTN NIGERIA Communication limited", "NG", false},
	{33771, "Safaricom Limited", "KE", false},
	{5713, "Telkom SA Ltd.", "ZA", false},
	{5384, "Emirates Telecommunications Group Company (ETISALAT GROUP) PJSC", "AE", false},
	{9498, "Bharti Airtel Ltd.", "IN", false},
	{55836, "Reliance Jio Infocomm Limited", "IN", false},
	{4773, "MobileOne Ltd. MobileOne Ltd.", "SG", false},
	{7713, "PT Telekomunikasi Indonesia", "ID", false},
	{4760, "HKT Limited", "HK", false},
	{4134, "Chinanet", "CN", false},
	{4837, "CHINA UNICOM China169 Backbone", "CN", false},
	{4766, "Korea Telecom", "KR", false},
	{4713, "NTT Communications Corporation", "JP", false},
	{17676, "SoftBank Corp.", "JP", false},
	{1221, "Telstra Pty Ltd", "AU", false},
	{9790, "Two Degrees Mobile Limited", "NZ", false},
	{35908, "", "BT", false},
	{16509, "Amazon.com, Inc.", "US", true},
	{15169, "Google LLC", "US", true},
	{8075, "Microsoft Corporation", "US", true},
	{13335, "Cloudflare, Inc.", "US", true},
	{14061, "DigitalOcean, LLC", "US", true},
	{20473, "The Constant Company, LLC", "US", true},
	{63949, "Akamai Connected Cloud", "US", true},
	{16276, "OVH SAS", "FR", true},
	{24940, "Hetzner Online GmbH", "DE", true},
	{9009, "M247 Europe SRL", "RO", true},
	{60068, "Datacamp Limited", "GB", true},
	{51167, "Contabo GmbH", "DE", true},
	{45102, "Alibaba (US) Technology Co., Ltd.", "CN", true},
}
