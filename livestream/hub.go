package livestream

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/internal/jsonenc"
)

// Errors of Subscribe.
var (
	// ErrTooManyViewers: Config.MaxViewers are connected already.
	ErrTooManyViewers = errors.New("too many viewers of the decision stream")
	// ErrClosed: the hub was closed (the server is shutting down).
	ErrClosed = errors.New("the decision stream is closed")
)

// Config configures a Hub. Zero values take the defaults in parentheses.
type Config struct {
	// RingSize is the number of decisions the ring holds between two passes of the fan-out (2048, rounded up
	// to a power of two). Allocated when the first viewer connects: about 1.9 KiB a slot.
	RingSize int
	// MaxViewers bounds the viewers connected at once (8).
	MaxViewers int
	// QueueLen is how many rendered messages wait for one viewer's connection (256).
	QueueLen int
	// MaxRate is how many messages a second one viewer is sent at most (500); beyond it they are dropped and
	// counted. It bounds the CPU the fan-out spends rendering: no one reads more than this anyway.
	MaxRate int
	// Tick is how often the fan-out reads the ring when writers do not wake it first (50 ms).
	Tick time.Duration
}

// MaxReasons bounds the reasons an entry keeps; a decision with more shows the first MaxReasons.
const MaxReasons = 16

// Reason is one reason of a decision as the stream shows it. Code and Rule must be immutable strings (a rule
// set's, an exception's, a constant): the entry keeps them after the request.
type Reason struct {
	Code, Rule string
	Score      int
}

// Extra is what the stream shows of a decision beyond its log record.
type Extra struct {
	IP          netip.Addr
	Took        time.Duration
	ShadowScore int
	Reasons     []Reason
}

// Entry is one decision in the ring. It is a plain value: copying it allocates nothing.
type Entry struct {
	Record      decisionlog.Record
	IP          netip.Addr
	Took        time.Duration
	ShadowScore int
	Reasons     [MaxReasons]Reason
	NumReasons  int
}

// slot is one ring position. seq is the sequence number of the entry it holds (0: none yet); a writer only
// ever replaces an older entry, so a reader finding seq below the one it expects knows the writer is not done.
type slot struct {
	mu  sync.Mutex
	seq uint64
	e   Entry
}

// Hub fans decisions out to viewers. Safe for concurrent use.
type Hub struct {
	cfg  Config
	mask uint64

	// viewers is the number of connected viewers: the one thing Publish reads when there are none.
	viewers atomic.Int32
	head    atomic.Uint64 // the last sequence number handed out
	dropped atomic.Uint64 // messages lost by any viewer, since New
	ring    []slot        // written once, under mu, before viewers first becomes non-zero
	wake    chan struct{}

	mu      sync.Mutex
	list    []*Viewer
	running bool   // the fan-out goroutine runs
	next    uint64 // the sequence the fan-out reads next; set when it starts
	closed  bool
}

// New returns a Hub with no viewers.
func New(cfg Config) *Hub {
	cfg.RingSize = max(cfg.RingSize, 0)
	if cfg.RingSize == 0 {
		cfg.RingSize = 2048
	}
	size := 1
	for size < cfg.RingSize {
		size <<= 1
	}
	cfg.RingSize = size
	if cfg.MaxViewers <= 0 {
		cfg.MaxViewers = 8
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 256
	}
	if cfg.MaxRate <= 0 {
		cfg.MaxRate = 500
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 50 * time.Millisecond
	}
	return &Hub{cfg: cfg, mask: uint64(size - 1), wake: make(chan struct{}, 1)}
}

// Active reports whether a viewer is connected: the engine publishes only then.
func (h *Hub) Active() bool { return h.viewers.Load() > 0 }

// Dropped is the number of messages viewers lost (full queue, past the rate, or the ring overrun) since New.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Viewers is the number of connected viewers.
func (h *Hub) Viewers() int { return int(h.viewers.Load()) }

// Publish copies one decision into the ring, when a viewer is connected. It never blocks on a viewer and
// allocates nothing; rec and x are not kept.
func (h *Hub) Publish(rec *decisionlog.Record, x *Extra) {
	if h.viewers.Load() == 0 {
		return
	}
	seq := h.head.Add(1)
	s := &h.ring[seq&h.mask]
	s.mu.Lock()
	if s.seq < seq { // else a writer that started later, on the same slot one lap ahead, was faster: drop this one
		s.e.Record = *rec
		s.e.IP, s.e.Took, s.e.ShadowScore = x.IP, x.Took, x.ShadowScore
		n := copy(s.e.Reasons[:], x.Reasons)
		if n < s.e.NumReasons {
			clear(s.e.Reasons[n:s.e.NumReasons]) // let go of the strings of the entry this one replaces
		}
		s.e.NumReasons = n
		s.seq = seq
	}
	s.mu.Unlock()
	if seq&(h.mask>>2) == 0 {
		// A quarter of the ring was written since the last wake-up: read it before writers lap the reader.
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

// Message is one rendered decision for a viewer, with the messages it lost just before this one.
type Message struct {
	Data    []byte // the JSON object; shared between viewers, read-only
	Dropped uint64
}

// Viewer is one connected viewer. Read Messages until Done is closed; call Hub.Unsubscribe when leaving.
type Viewer struct {
	filter  Filter
	queue   chan Message
	pending atomic.Uint64 // lost since the last message queued
	done    chan struct{}
	once    sync.Once
	tokens  float64 // owned by the fan-out
}

// Messages are the decisions that match the viewer's filter.
func (v *Viewer) Messages() <-chan Message { return v.queue }

// Done is closed when the viewer is removed (Unsubscribe, or the hub closing).
func (v *Viewer) Done() <-chan struct{} { return v.done }

// TakeDropped returns the messages lost since the last message queued or the last call, and resets the count:
// a viewer reports them when no message would carry them (the stream went quiet after a burst).
func (v *Viewer) TakeDropped() uint64 { return v.pending.Swap(0) }

func (v *Viewer) drop(h *Hub, n uint64) {
	v.pending.Add(n)
	h.dropped.Add(n)
}

// Subscribe connects a viewer of the decisions that match f.
func (h *Hub) Subscribe(f Filter) (*Viewer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, ErrClosed
	case len(h.list) >= h.cfg.MaxViewers:
		return nil, ErrTooManyViewers
	}
	if h.ring == nil {
		h.ring = make([]slot, h.cfg.RingSize)
	}
	v := &Viewer{filter: f, queue: make(chan Message, h.cfg.QueueLen), done: make(chan struct{}), tokens: float64(h.cfg.MaxRate)}
	h.list = append(h.list, v)
	if !h.running {
		h.running = true
		h.next = h.head.Load() + 1 // what was published before is not live any more
		go h.run()
	}
	h.viewers.Add(1)
	return v, nil
}

// Unsubscribe removes v; it may be called more than once.
func (h *Hub) Unsubscribe(v *Viewer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, w := range h.list {
		if w == v {
			h.list = append(h.list[:i], h.list[i+1:]...)
			h.viewers.Add(-1)
			break
		}
	}
	v.once.Do(func() { close(v.done) })
}

// Close removes every viewer and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	list := h.list
	h.list = nil
	h.viewers.Store(0)
	h.mu.Unlock()
	for _, v := range list {
		v.once.Do(func() { close(v.done) })
	}
}

// run is the fan-out: it reads the ring from h.next up to the head, every Tick or when Publish wakes it, until
// no viewer is left.
func (h *Hub) run() {
	t := time.NewTicker(h.cfg.Tick)
	defer t.Stop()
	var (
		viewers []*Viewer
		matched []bool
		entry   Entry
		enc     = jsonenc.NewVectorEncoder()
		last    = time.Now()
	)
	for {
		select {
		case <-t.C:
		case <-h.wake:
		}
		h.mu.Lock()
		if len(h.list) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		viewers = append(viewers[:0], h.list...)
		next := h.next
		h.mu.Unlock()

		now := time.Now()
		refill := now.Sub(last).Seconds() * float64(h.cfg.MaxRate)
		last = now
		for _, v := range viewers {
			v.tokens = min(v.tokens+refill, float64(h.cfg.MaxRate))
		}
		if cap(matched) < len(viewers) {
			matched = make([]bool, len(viewers))
		}
		matched = matched[:len(viewers)]
		next = h.drain(next, viewers, matched, &entry, enc)
		h.mu.Lock()
		h.next = next
		h.mu.Unlock()
	}
}

// drain reads the ring from next on and returns where to go on from next time.
func (h *Hub) drain(next uint64, viewers []*Viewer, matched []bool, entry *Entry, enc *jsonenc.VectorEncoder) uint64 {
	head := h.head.Load()
	size := uint64(len(h.ring))
	if head >= next+size {
		// Writers lapped the fan-out: what they overwrote is lost for everyone.
		lost := head - size + 1 - next
		for _, v := range viewers {
			v.drop(h, lost)
		}
		next = head - size + 1
	}
	for ; next <= head; next++ {
		s := &h.ring[next&h.mask]
		s.mu.Lock()
		if s.seq < next {
			s.mu.Unlock()
			break // its writer is not done yet: read it next time
		}
		if s.seq > next {
			s.mu.Unlock()
			for _, v := range viewers {
				v.drop(h, 1)
			}
			continue
		}
		want := false
		for i, v := range viewers {
			matched[i] = v.filter.Match(&s.e)
			if matched[i] && (v.tokens < 1 || len(v.queue) == cap(v.queue)) {
				// Lost for this viewer: decided here, so that an entry no one has room for is not even copied.
				matched[i] = false
				v.drop(h, 1)
			}
			want = want || matched[i]
		}
		if want {
			*entry = s.e
		}
		s.mu.Unlock()
		if !want {
			continue
		}
		data := AppendJSON(make([]byte, 0, 8<<10), entry, enc) // rendered once, shared by the viewers
		for i, v := range viewers {
			if matched[i] {
				v.tokens--
				// The fan-out is the queue's only sender, so the room seen above is still there.
				v.queue <- Message{Data: data, Dropped: v.pending.Swap(0)}
			}
		}
	}
	return next
}
