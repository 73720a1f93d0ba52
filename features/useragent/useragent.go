package useragent

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/ua-parser/uap-go/uaparser"
)

// MaxLen is the longest user agent parsed; longer ones are cut to it (the server already refuses longer ones).
// It bounds the regex work and the memory of a cache entry.
const MaxLen = 1024

// DefaultCacheSize is the default number of cache slots. Distinct user agents are far fewer than addresses:
// a few thousand cover most of a day's traffic. Memory: 8 B per slot up front (128 KB), plus ~300-400 B per
// occupied slot (the entry and its copy of the user agent).
const DefaultCacheSize = 16384

const maxCacheSlots = 1 << 24

// Device classes.
const (
	Desktop = "desktop"
	Mobile  = "mobile"
	Tablet  = "tablet"
	Bot     = "bot"
	Unknown = "unknown"
)

// Info is what a user agent says about its client. Immutable once returned.
type Info struct {
	Browser      string // uap's user-agent family, e.g. "Chrome", "Mobile Safari", "Other"
	BrowserMajor int    // major version, 0 when unknown
	OS           string // uap's OS family, e.g. "Windows", "iOS", "Other"
	DeviceClass  string // Desktop, Mobile, Tablet, Bot or Unknown
	IsBot        bool   // a crawler, a headless browser or an HTTP library
}

// emptyInfo answers the empty user agent. It is never written.
var emptyInfo Info

// Parser parses user agents and caches the answers. It is safe for concurrent use.
//
// Parsing one user agent with uap's regexes costs 0.3-1.5 ms of CPU, so a request must never wait for it: a
// client that sends a new user agent on every request would otherwise buy a millisecond of riskd's CPU per
// request. A background Parser (NewBackground) answers a user agent it has not parsed yet from the first-sight
// check alone (obviousBot: a bot, or else unknown) and, from its second sighting, parses it on one background
// goroutine, at a bounded rate, for the requests that follow. New gives a synchronous Parser, for tests and
// tools that want the full answer at once.
type Parser struct {
	once  sync.Once
	uap   *uaparser.Parser
	cache cache

	background bool
	door       doorkeeper    // background only: a user agent is cached from its second sighting
	interval   time.Duration // between background parses
	start      sync.Once
	queue      chan *entry
}

// entry is one cached answer, immutable once stored but for queued and used. ua is a copy the parser owns: the
// caller's string may alias a request buffer that is reused.
type entry struct {
	ua      string
	used    atomic.Bool // found since the cache last looked for a victim in its set (see cache.put); beside ua, which a hit reads anyway
	pending bool        // info holds the cheap answer; the full one is to come
	queued  atomic.Bool // handed to the background parser
	info    Info
}

// backgroundQueue bounds the user agents waiting for the background parser; beyond it they wait for their
// next sighting.
const backgroundQueue = 1024

// New returns a parser with a cache of cacheSize slots, rounded up to a power of two (<= 0: DefaultCacheSize).
func New(cacheSize int) *Parser {
	if cacheSize <= 0 {
		cacheSize = DefaultCacheSize
	}
	return &Parser{cache: newCache(cacheSize)}
}

// NewBackground returns a parser whose misses are answered at once and parsed in the background, at most
// perSecond parses a second (<= 0: 200, about a fifth of a core at worst).
func NewBackground(cacheSize, perSecond int) *Parser {
	p := New(cacheSize)
	if perSecond <= 0 {
		perSecond = 200
	}
	p.background, p.interval = true, time.Second/time.Duration(perSecond)
	p.queue = make(chan *entry, backgroundQueue)
	p.door = newDoorkeeper(len(p.cache.slots) * doorkeeperPerSlot)
	return p
}

// Warm compiles the regexes now rather than on the first miss.
func (p *Parser) Warm() { p.once.Do(p.compile) }

func (p *Parser) compile() {
	// uap-go's own cache (an ARC behind a mutex, allocating on every Add) is redundant with ours: keep it at
	// its minimum. Its Parse runs three goroutines per call; Lookup calls the three parsers directly instead.
	uap, err := uaparser.New(uaparser.WithCacheSize(1))
	if err != nil {
		// The regexes are compiled into the binary: an error is a programming error, found by every test.
		panic("useragent: " + err.Error())
	}
	p.uap = uap
}

// Lookup returns what ua says: never nil, and shared, so the caller must not modify it. The empty user agent
// and a nil Parser give an empty Info. A cached user agent costs an atomic load and a string compare.
//
// A background Parser answers a user agent it has not cached from the first-sight check (obviousBot) alone. The
// first sighting allocates nothing and leaves the cache and the parse queue alone: it is only noted by the
// doorkeeper. From the second, the user agent is cached (still with the first-sight answer) and queued for the
// full parse. A client that sends a new user agent on every request therefore neither evicts the user agents
// real users send again and again, nor fills the parse queue ahead of them (BenchmarkCacheUnderRotation).
func (p *Parser) Lookup(ua string) *Info {
	if p == nil || ua == "" {
		return &emptyInfo
	}
	if len(ua) > MaxLen {
		ua = ua[:MaxLen]
	}
	h := xxhash.Sum64String(ua)
	if e := p.cache.get(ua, h); e != nil {
		if e.pending {
			p.enqueue(e) // dropped from a full queue before: try again
		}
		return &e.info
	}
	if !p.background {
		e := &entry{ua: strings.Clone(ua)}
		p.parse(e.ua, &e.info)
		p.cache.put(e, h)
		return &e.info
	}
	first := firstSight(obviousBot(ua))
	if !p.door.seenBefore(h) {
		return first
	}
	e := &entry{ua: strings.Clone(ua), info: *first, pending: true}
	p.enqueue(e)
	p.cache.put(e, h)
	return &e.info
}

// firstSightAnswers are the two answers a user agent gets before its parse: bot or unknown. Never written.
var firstSightAnswers = [2]Info{{DeviceClass: Unknown}, {DeviceClass: Bot, IsBot: true}}

// firstSight returns the shared first-sight answer.
func firstSight(bot bool) *Info {
	if bot {
		return &firstSightAnswers[1]
	}
	return &firstSightAnswers[0]
}

// enqueue hands e to the background parser once, without blocking.
func (p *Parser) enqueue(e *entry) {
	if !e.queued.CompareAndSwap(false, true) {
		return
	}
	p.start.Do(func() { go p.work() })
	select {
	case p.queue <- e:
	default:
		e.queued.Store(false)
	}
}

// work parses queued user agents, one every interval at most, and publishes the full answers.
func (p *Parser) work() {
	for e := range p.queue {
		begin := time.Now()
		full := &entry{ua: e.ua}
		p.parse(full.ua, &full.info)
		p.cache.replace(e, full, xxhash.Sum64String(full.ua))
		time.Sleep(p.interval - time.Since(begin))
	}
}

// parse fills info from ua, which the parser owns (uap's results alias it).
func (p *Parser) parse(ua string, info *Info) {
	p.Warm()
	b := p.uap.ParseUserAgent(ua)
	os := p.uap.ParseOs(ua)
	dev := p.uap.ParseDevice(ua)
	info.Browser = b.Family
	info.BrowserMajor, _ = strconv.Atoi(b.Major)
	info.OS = os.Family
	info.IsBot = dev.Family == "Spider" || obviousBot(ua)
	info.DeviceClass = classify(ua, os.Family, dev.Family, info.IsBot)
}

// cached returns the entry in ua's slot when it holds ua, without marking it used (for tests).
func (p *Parser) cached(ua string) *entry { return p.cache.find(ua, xxhash.Sum64String(ua)) }
