package signals

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
)

// TestStateSurvivesRestart: with a data dir, streams, their queued SETs and removed subjects survive a
// restart, and an erasure takes the user's SETs off the disk before it returns.
func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	key, err := EphemeralKey()
	if err != nil {
		t.Fatal(err)
	}
	open := func() *Transmitter {
		tx, err := New(Config{Issuer: "https://riskd.example", Key: key, DataDir: dir, Metrics: metrics.NewSet()})
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	tx := open()
	events := []string{EventSessionRevoked}
	poll, err := tx.CreateStream(&StreamRequest{EventsRequested: &events, Delivery: &Delivery{Method: DeliveryPoll, AuthorizationHeader: "Bearer p"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.RemoveSubject(poll.StreamID, &Subject{Format: "opaque", ID: "removed-user"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"kept-user", "erased-user"} {
		tx.Signal(engine.Signal{Kind: engine.SignalOutcome, UserID: u, Outcome: features.FraudConfirmed, Time: time.Now().UnixNano()})
	}
	s, _ := tx.stream(poll.StreamID)
	for deadline := time.Now().Add(5 * time.Second); queuedLen(s) < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	tx.Close()

	path := filepath.Join(dir, stateFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	tx = open()
	defer tx.Close()
	_, pr := mustPoll(t, tx, poll.StreamID)
	if len(pr.Sets) != 2 {
		t.Fatalf("after a restart the stream holds %d SETs, want 2", len(pr.Sets))
	}
	if _, err := tx.Poll(nil, poll.StreamID, "Bearer p", &PollRequest{ReturnImmediately: true}); err != nil {
		t.Fatalf("the stream's token did not survive: %v", err)
	}
	s, _ = tx.stream(poll.StreamID)
	if _, _, ok := s.wants(EventSessionRevoked, tx.subjectKey("removed-user")); ok {
		t.Fatal("a removed subject is carried again after a restart")
	}

	if err := tx.Forget("erased-user"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "erased-user") || !strings.Contains(string(data), "kept-user") {
		t.Fatal("after an erasure the state file still names the erased user, or lost the other")
	}
}

func mustPoll(t *testing.T, tx *Transmitter, id string) (int, PollResponse) {
	t.Helper()
	pr, err := tx.Poll(nil, id, "Bearer p", &PollRequest{ReturnImmediately: true})
	if err != nil {
		t.Fatal(err)
	}
	return len(pr.Sets), pr
}

func TestCorruptStateFileRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFile)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, _ := EphemeralKey()
	if _, err := New(Config{Issuer: "https://riskd.example", Key: key, DataDir: dir, Metrics: metrics.NewSet()}); err == nil {
		t.Fatal("a corrupt state file was accepted")
	}
	if data, _ := os.ReadFile(path); string(data) != "{not json" {
		t.Fatal("a state file riskd could not read was overwritten")
	}
}
