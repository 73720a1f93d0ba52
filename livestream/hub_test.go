package livestream_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/livestream"
	"github.com/riskd/riskd/rules"
)

func defaultSet(t *testing.T) *rules.Set {
	t.Helper()
	set, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// publish hands the hub one decision of tenant and event, firing the rules at fired.
func publish(h *livestream.Hub, set *rules.Set, id uint64, a rules.Action, tenant, event string, fired ...int) {
	var rec decisionlog.Record
	v := features.Vector{Tenant: tenant, Event: event, Country: "SE"}
	rec.Fill(time.Unix(1700000000, int64(id)).UnixNano(), id, 0xabc, a, 40, set, fired, &v)
	h.Publish(&rec, &livestream.Extra{IP: netip.MustParseAddr("89.160.20.112"), Took: 12 * time.Microsecond,
		Reasons: []livestream.Reason{{Code: "c", Rule: "r", Score: 40}}})
}

// next returns the viewer's next message, failing after a second.
func next(t *testing.T, v *livestream.Viewer) livestream.Message {
	t.Helper()
	select {
	case m := <-v.Messages():
		return m
	case <-time.After(time.Second):
		t.Fatal("no message within 1 s")
	}
	return livestream.Message{}
}

func decode(t *testing.T, m livestream.Message) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(m.Data, &out); err != nil {
		t.Fatalf("%v: %s", err, m.Data)
	}
	return out
}

// TestFiltersAreANDed: each viewer sees the decisions that match every filter it set, in order.
func TestFiltersAreANDed(t *testing.T) {
	set := defaultSet(t)
	h := livestream.New(livestream.Config{Tick: time.Millisecond})
	defer h.Close()
	rule := set.Rules[2].ID
	all, _ := h.Subscribe(livestream.Filter{})
	deny, _ := h.Subscribe(livestream.Filter{Decision: rules.Deny})
	narrow, _ := h.Subscribe(livestream.Filter{Decision: rules.Deny, Tenant: "brand-a", Event: "login", Rule: rule})
	publish(h, set, 1, rules.Allow, "brand-a", "login", 2)
	publish(h, set, 2, rules.Deny, "brand-a", "login", 1)
	publish(h, set, 3, rules.Deny, "brand-b", "login", 2)
	publish(h, set, 4, rules.Deny, "brand-a", "checkout", 2)
	publish(h, set, 5, rules.Deny, "brand-a", "login", 0, 2)
	for _, id := range []string{"0000000000000001", "0000000000000002", "0000000000000003", "0000000000000004", "0000000000000005"} {
		if got := decode(t, next(t, all))["evaluation_id"]; got != id {
			t.Fatalf("unfiltered viewer: %v, want %s", got, id)
		}
	}
	for _, id := range []string{"0000000000000002", "0000000000000003", "0000000000000004", "0000000000000005"} {
		if got := decode(t, next(t, deny))["evaluation_id"]; got != id {
			t.Fatalf("decision=deny viewer: %v, want %s", got, id)
		}
	}
	m := decode(t, next(t, narrow))
	if m["evaluation_id"] != "0000000000000005" {
		t.Fatalf("narrow viewer got %v", m["evaluation_id"])
	}
	select {
	case m := <-narrow.Messages():
		t.Fatalf("narrow viewer got another message: %s", m.Data)
	case <-time.After(50 * time.Millisecond):
	}
	// The message carries the contract's fields.
	if m["tenant"] != "brand-a" || m["event"] != "login" || m["ip"] != "89.160.20.112" || m["country"] != "SE" ||
		m["decision"] != "deny" || m["user"] != "0000000000000abc" || m["took_us"] != 12.0 || m["rules_version"] != set.Version {
		t.Fatalf("message %v", m)
	}
	rs := m["rules"].([]any)
	if len(rs) != len(set.Rules) {
		t.Fatalf("%d rules, want every one of %d", len(rs), len(set.Rules))
	}
	for i, r := range rs {
		r := r.(map[string]any)
		if r["name"] != set.Rules[i].ID || r["fired"] != (i == 0 || i == 2) {
			t.Fatalf("rule %d: %v", i, r)
		}
	}
	if f := m["features"].(map[string]any); f["tenant"] != "brand-a" || f["country"] != "SE" {
		t.Fatalf("features %v", f)
	}
	if _, ok := m["shadow"]; ok {
		t.Fatal("shadow without a shadow set")
	}
}

// TestSlowViewerDropsAndIsTold: a viewer that does not read loses what does not fit its queue, counted for
// it and in the hub, and learns the count with its next message; the other viewer loses nothing.
func TestSlowViewerDropsAndIsTold(t *testing.T) {
	set := defaultSet(t)
	h := livestream.New(livestream.Config{QueueLen: 4, MaxRate: 1 << 20, Tick: time.Millisecond})
	defer h.Close()
	slow, _ := h.Subscribe(livestream.Filter{})
	fast, _ := h.Subscribe(livestream.Filter{})
	for i := range 100 {
		publish(h, set, uint64(i+1), rules.Allow, "default", "login")
		if m := next(t, fast); m.Dropped != 0 {
			t.Fatalf("the reading viewer was told of %d drops", m.Dropped)
		}
	}
	waitFor(t, func() bool { return h.Dropped() == 96 })
	for i := range 4 {
		if m := next(t, slow); m.Dropped != 0 || decode(t, m)["evaluation_id"] != "000000000000000"+string(rune('1'+i)) {
			t.Fatalf("queued message %d: %s dropped %d", i, m.Data, m.Dropped)
		}
	}
	publish(h, set, 101, rules.Allow, "default", "login")
	if m := next(t, slow); m.Dropped != 96 {
		t.Fatalf("the next message says %d dropped, want 96", m.Dropped)
	}
	if n := slow.TakeDropped(); n != 0 {
		t.Fatalf("drops reported twice: %d", n)
	}
}

// TestRingOverrunCounts: writers that lap the fan-out lose the overwritten decisions, counted for every viewer.
func TestRingOverrunCounts(t *testing.T) {
	set := defaultSet(t)
	h := livestream.New(livestream.Config{RingSize: 8, QueueLen: 64, MaxRate: 1 << 20, Tick: time.Hour})
	defer h.Close()
	v, _ := h.Subscribe(livestream.Filter{})
	for i := range 40 {
		publish(h, set, uint64(i+1), rules.Allow, "default", "login")
	}
	// Writers wake the fan-out every quarter of the ring; it reads what was not overwritten meanwhile. With one
	// viewer the hub's count is the viewer's, so every decision is either seen or counted lost, once.
	var seen, told uint64
	waitFor(t, func() bool {
		for {
			select {
			case m := <-v.Messages():
				seen++
				told += m.Dropped
				continue
			default:
			}
			break
		}
		return seen+h.Dropped() >= 40
	})
	if seen == 0 || seen+h.Dropped() != 40 {
		t.Fatalf("seen %d, dropped %d of 40", seen, h.Dropped())
	}
	// The viewer learns of every loss, in a message or from TakeDropped, exactly once.
	if told += v.TakeDropped(); told != h.Dropped() {
		t.Fatalf("the viewer was told of %d drops, the hub counted %d", told, h.Dropped())
	}
}

// TestViewersAreBounded: past MaxViewers Subscribe refuses; leaving makes room; Close ends every viewer.
func TestViewersAreBounded(t *testing.T) {
	h := livestream.New(livestream.Config{MaxViewers: 2})
	a, _ := h.Subscribe(livestream.Filter{})
	if _, err := h.Subscribe(livestream.Filter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(livestream.Filter{}); !errors.Is(err, livestream.ErrTooManyViewers) {
		t.Fatalf("a third viewer: %v", err)
	}
	h.Unsubscribe(a)
	h.Unsubscribe(a)
	if h.Viewers() != 1 || !h.Active() {
		t.Fatalf("%d viewers after one left twice", h.Viewers())
	}
	c, err := h.Subscribe(livestream.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	select {
	case <-c.Done():
	default:
		t.Fatal("Close left a viewer connected")
	}
	if h.Active() {
		t.Fatal("active after Close")
	}
	if _, err := h.Subscribe(livestream.Filter{}); !errors.Is(err, livestream.ErrClosed) {
		t.Fatalf("subscribe after Close: %v", err)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("not within 5 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
