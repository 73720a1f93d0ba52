package server

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

// TestSessionsBoundedAndExpire: the table holds at most maxSessions (signing in beyond ends the session closest
// to its end), and a session is worth nothing after sessionTTL.
func TestSessionsBoundedAndExpire(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tab := newSessions()
	tab.now = func() time.Time { return now }
	var key [sha256.Size]byte
	first, _ := tab.open(key)
	ids := []string{first}
	for range maxSessions + 9 {
		now = now.Add(time.Second)
		id, _ := tab.open(key)
		ids = append(ids, id)
	}
	if n := tab.len(); n != maxSessions {
		t.Fatalf("%d sessions, want the bound %d", n, maxSessions)
	}
	if _, ok := tab.lookup([]byte(first)); ok {
		t.Fatal("the oldest session outlived the bound")
	}
	last := ids[len(ids)-1]
	if _, ok := tab.lookup([]byte(last)); !ok {
		t.Fatal("the newest session is gone")
	}
	now = now.Add(sessionTTL)
	if _, ok := tab.lookup([]byte(last)); ok {
		t.Fatal("a session outlived its TTL")
	}
	if _, ok := tab.lookup(nil); ok {
		t.Fatal("no cookie found a session")
	}
}

// TestAuditorKeepsRecent: the ring keeps the newest recentAudit records, newest first, with or without a log.
func TestAuditorKeepsRecent(t *testing.T) {
	a := NewAuditor(nil)
	for i := range recentAudit + 20 {
		if err := a.Record(AuditRecord{Who: "analyst", Action: fmt.Sprint(i), Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	got := a.Recent(1000)
	if len(got) != recentAudit || got[0].Action != fmt.Sprint(recentAudit+19) || got[len(got)-1].Action != "20" {
		t.Fatalf("%d records, newest %q, oldest %q", len(got), got[0].Action, got[len(got)-1].Action)
	}
	few := NewAuditor(nil)
	few.Record(AuditRecord{Action: "a"})
	few.Record(AuditRecord{Action: "b"})
	if r := few.Recent(5); len(r) != 2 || r[0].Action != "b" || r[1].Action != "a" {
		t.Fatalf("fewer records than the ring holds: %v", r)
	}
}
