package store

import (
	"context"
	"testing"
	"time"

	"github.com/riskd/riskd/store/storetest"
)

// TestSpendOnEveryBackend: a purchase and a payment-method change reach the profile on every backend, the export
// shows them, the data dir keeps them across a restart, retention drops them and erasure removes them.
func TestSpendOnEveryBackend(t *testing.T) {
	now := time.Now().Unix()
	const user = 0x5151515151515151
	teach := func(s State) {
		s.Apply(user, ProfileOp{Kind: OpLogin, At: now - 100, HasDevice: true, Device: 3})
		s.Apply(user, ProfileOp{Kind: OpPurchase, At: now - 50, Amount: 42.5})
		s.Apply(user, ProfileOp{Kind: OpSequence, Seq: SeqPaymentMethod, At: now - 40, HasDevice: true, Device: 9, NewDevice: true})
		// A change for a user without a profile creates none.
		s.Apply(user+1, ProfileOp{Kind: OpSequence, Seq: SeqPasswordReset, At: now - 40})
	}
	check := func(t *testing.T, s State, name string) {
		t.Helper()
		var u UserData
		if ok, err := s.Export(user, now, &u); !ok || err != nil || u.Profile.Spend.Purchases != 1 || u.Profile.Spend.Largest != 42.5 ||
			u.Profile.Sequences.At[SeqPaymentMethod] != now-40 || u.Profile.Sequences.PaymentDevice != 9 {
			t.Fatalf("%s: export %v %v spend %+v sequences %+v", name, ok, err, u.Profile.Spend, u.Profile.Sequences)
		}
		if ok, _ := s.Export(user+1, now, &u); ok && u.HasProfile {
			t.Fatalf("%s: a sequence created a profile", name)
		}
	}
	erase := func(t *testing.T, s State, name string) {
		t.Helper()
		if _, err := s.Erase(user); err != nil {
			t.Fatal(err)
		}
		var u UserData
		if ok, _ := s.Export(user, now, &u); ok && (u.Profile.Spend != Spend{} || u.Profile.Sequences != Sequences{}) {
			t.Fatalf("%s: spend after erasure: %+v", name, u.Profile.Spend)
		}
	}

	t.Run("memory", func(t *testing.T) {
		m := NewMemory(1 << 12)
		teach(m)
		check(t, m, "memory")
		if n, err := m.Expire(context.Background(), now-45); err != nil || n != 1 {
			t.Fatalf("retention: %d %v", n, err)
		}
		var u UserData
		m.Export(user, now, &u)
		if u.Profile.Spend != (Spend{}) || u.Profile.Sequences.At[SeqPaymentMethod] == 0 {
			t.Fatalf("retention at the purchase's time: spend %+v sequences %+v", u.Profile.Spend, u.Profile.Sequences)
		}
		erase(t, m, "memory")
	})
	t.Run("data dir", func(t *testing.T) {
		dir := t.TempDir()
		e := openEmbedded(t, dir, "k")
		teach(e)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		e = openEmbedded(t, dir, "k")
		defer e.Close()
		check(t, e, "data dir after a restart")
		erase(t, e, "data dir")
	})
	t.Run("redis", func(t *testing.T) {
		srv := storetest.StartRedis(t)
		a, b := openRedis(t, srv.Addr, "k"), openRedis(t, srv.Addr, "k")
		teach(a)
		settle(t, a)
		check(t, b, "redis, another instance")
		erase(t, b, "redis")
		if keys := beyondTombstone(srv.Keys(t, "*"+UserKeyHex(user)+"*")); len(keys) != 0 {
			t.Fatalf("redis still holds %v", keys)
		}
	})
}
