package store

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/redisconn"
	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/store/storetest"
)

// MinimalACL is the ACL rule of the user riskd connects as: its keys (~riskd:*, which covers the erasure stream,
// the key check and the retention lock), no Pub/Sub channels, and exactly the commands riskd sends: PING (start-up
// and probes), GET, SET, DEL (key check, retention lock, profile reads, erasure; and inside the scripts),
// HGETALL, HSET, HDEL and PEXPIRE (the instances' contributions), PTTL (inside the move of the layouts before's
// records), EVALSHA and EVAL (the profile's compare-and-set and that move, EVAL when Redis lost them), XADD,
// XREAD, XREVRANGE (the erasure stream), SCAN (the retention sweep, the move) and CLUSTER SLOTS (how the client
// finds a Redis Cluster's nodes). docs/OPERATIONS.md quotes it.
const MinimalACL = "resetkeys ~riskd:* resetchannels -@all +ping +get +set +pexpire +pttl +del +hgetall +hset +hdel +evalsha +eval +xadd +xread +xrevrange +scan +cluster|slots"

func openRedisWith(t *testing.T, cfg RedisConfig) (*Redis, error) {
	t.Helper()
	cfg.Timeout, cfg.MaxKeys, cfg.KeyCheck = time.Second, 1<<12, []byte("k")
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := OpenRedis(cfg)
	if err == nil {
		t.Cleanup(func() { r.Close() })
	}
	return r, err
}

// roundTrip runs every kind of command riskd sends through a and b (two instances): decisions (scripts and GET),
// profile writes (compare-and-set), export, erasure and its stream, the retention sweep.
func roundTrip(t *testing.T, a, b *Redis) {
	t.Helper()
	now := time.Now().Unix()
	var r Reading
	for i := range 3 {
		b.Observe(Subjects{User: 1, HasUser: true, IP: 7, HasIP: true, Device: 9, HasDevice: true}, now, SetOf(Attempts, Failures), &r)
		if r.IP[Failures][Minute] != uint32(i) {
			t.Fatalf("attempt %d read %d failures", i, r.IP[Failures][Minute])
		}
	}
	learn(a, 1, 10, now)
	settle(t, a)
	var ud UserData
	if ok, err := b.Export(1, now, &ud); !ok || err != nil || ud.Profile.Device(10) < 0 {
		t.Fatalf("export: %v %v %+v", ok, err, ud.Profile)
	}
	if _, err := a.Erase(1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.Local().Profiles.Get(1, new(Profile)) {
		if time.Now().After(deadline) {
			t.Fatal("the erasure did not reach the other instance")
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.Apply(2, ProfileOp{Kind: OpLogin, At: now - 7200, Device: 20, HasDevice: true})
	settle(t, a)
	if n, err := a.Expire(context.Background(), now-3600); err != nil || n < 1 {
		t.Fatalf("retention sweep: %d %v", n, err)
	}
	if err := errors.Join(a.Health(), b.Health()); err != nil {
		t.Fatal(err)
	}
}

// TestRedisRequirePass: with requirepass, riskd connects with the password; without it, or with a wrong one,
// OpenRedis fails at once with ErrAuth instead of deciding on local state forever.
func TestRedisRequirePass(t *testing.T) {
	srv := storetest.StartRedisWith(t, storetest.Options{Args: []string{"--requirepass", "s3cret"}, Password: "s3cret"})
	cfg := RedisConfig{Addrs: []string{srv.Addr}, Password: "s3cret"}
	roundTripAs(t, cfg)
	for _, pw := range []string{"", "wrong"} {
		_, err := openRedisWith(t, RedisConfig{Addrs: []string{srv.Addr}, Password: pw})
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("password %q: err = %v, want ErrAuth", pw, err)
		}
		if !strings.Contains(err.Error(), srv.Addr) {
			t.Fatalf("the error does not name the server: %v", err)
		}
	}
}

// TestRedisRefusedAfterStart: Redis was out of reach when riskd started and comes up requiring a password riskd
// lacks; health then says Redis refuses riskd, instead of the connection error of the start.
func TestRedisRefusedAfterStart(t *testing.T) {
	srv := storetest.StartRedisWith(t, storetest.Options{Args: []string{"--requirepass", "s3cret"}, Password: "s3cret"})
	srv.Kill()
	r, err := openRedisWith(t, RedisConfig{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Health(); h == nil || errors.Is(h, ErrAuth) {
		t.Fatalf("health with redis down: %v", h)
	}
	srv.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	for h := r.Health(); !errors.Is(h, ErrAuth); h = r.Health() {
		if time.Now().After(deadline) {
			t.Fatalf("health %v, want ErrAuth once redis answers", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisMinimalACL: riskd works as an ACL user allowed only MinimalACL, and Redis logs no command it denied;
// the same user cannot touch keys outside riskd:* or run other commands.
func TestRedisMinimalACL(t *testing.T) {
	acl := filepath.Join(t.TempDir(), "users.acl")
	rules := "user default on nopass ~* &* +@all\nuser riskd on >riskd-pw " + MinimalACL + "\n"
	if err := os.WriteFile(acl, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := storetest.StartRedisWith(t, storetest.Options{Args: []string{"--aclfile", acl}})
	cfg := RedisConfig{Addrs: []string{srv.Addr}, Username: "riskd", Password: "riskd-pw"}
	a := roundTripAs(t, cfg)
	admin := srv.Client(t)
	ctx := context.Background()
	denied, err := admin.Do(ctx, admin.B().AclLog().Count(10).Build()).ToArray()
	if err != nil {
		t.Fatal(err)
	}
	if len(denied) != 0 {
		entries := make([]string, 0, len(denied))
		for _, d := range denied {
			m, _ := d.AsStrMap()
			entries = append(entries, m["reason"]+" "+m["object"])
		}
		t.Fatalf("the ACL denied riskd: %v", entries)
	}
	// The rule restricts: riskd's user cannot read other keys or flush the database.
	c := a.conn()
	if err := c.Do(ctx, c.B().Get().Key("other:key").Build()).Error(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("GET other:key as riskd: %v, want NOPERM", err)
	}
	if err := c.Do(ctx, c.B().Flushall().Build()).Error(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("FLUSHALL as riskd: %v, want NOPERM", err)
	}
	if _, err := openRedisWith(t, RedisConfig{Addrs: []string{srv.Addr}, Username: "riskd", Password: "nope"}); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong password: %v, want ErrAuth", err)
	}
}

// TestRedisTLS: over TLS, riskd verifies Redis's certificate against the CA and presents its client certificate
// when Redis requires one (tls-auth-clients yes); an untrusted server certificate fails OpenRedis with ErrAuth.
func TestRedisTLS(t *testing.T) {
	certs := testenv.NewCerts(t)
	t.Run("server certificate only", func(t *testing.T) {
		srv := storetest.StartRedisWith(t, storetest.Options{TLS: certs, AuthClients: "no"})
		roundTripAs(t, RedisConfig{Addrs: []string{srv.Addr}, TLS: certs.ClientConfig(false)})
		// Plain TCP to a TLS port, or a CA that did not sign the server's certificate: refused at start.
		if r, err := openRedisWith(t, RedisConfig{Addrs: []string{srv.Addr}}); err == nil && r.Health() == nil {
			t.Fatal("plain TCP to the TLS port connected")
		}
		other := &tls.Config{RootCAs: nil, MinVersion: tls.VersionTLS12}
		if _, err := openRedisWith(t, RedisConfig{Addrs: []string{srv.Addr}, TLS: other}); !errors.Is(err, ErrAuth) {
			t.Fatalf("untrusted server certificate: %v, want ErrAuth", err)
		}
	})
	t.Run("client certificate required, with a password", func(t *testing.T) {
		srv := storetest.StartRedisWith(t, storetest.Options{TLS: certs, AuthClients: "yes",
			Args: []string{"--requirepass", "pw"}, Password: "pw"})
		cfg := RedisConfig{Addrs: []string{srv.Addr}, Password: "pw", TLS: certs.ClientConfig(true)}
		roundTripAs(t, cfg)
		// Redis resets the connection of a client without a certificate, which cannot be told from a network
		// failure: riskd keeps trying, and its health says what to check.
		r, err := openRedisWith(t, RedisConfig{Addrs: []string{srv.Addr}, Password: "pw", TLS: certs.ClientConfig(false)})
		if err != nil {
			t.Fatal(err)
		}
		if h := r.Health(); h == nil || !strings.Contains(h.Error(), "client certificate") {
			t.Fatalf("no client certificate: health %v, want a hint at the client certificate", h)
		}
	})
}

// roundTripAs opens two instances on Redis with cfg, runs roundTrip between them and returns the first.
func roundTripAs(t *testing.T, cfg RedisConfig) *Redis {
	t.Helper()
	a, err := openRedisWith(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openRedisWith(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, a, b)
	return a
}

// TestRedisUnixSocket: a Redis on the same host reached by its Unix socket serves every command riskd sends,
// with a password; TLS to a socket, which Redis does not serve, is refused at start with ErrTLSSocket.
func TestRedisUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "redis.sock")
	storetest.StartRedisWith(t, storetest.Options{Args: []string{"--unixsocket", sock, "--unixsocketperm", "700",
		"--requirepass", "pw"}, Password: "pw"})
	roundTripAs(t, RedisConfig{Addrs: []string{sock}, Password: "pw"})
	_, err := openRedisWith(t, RedisConfig{Addrs: []string{sock}, Password: "pw", TLS: testenv.NewCerts(t).ClientConfig(false)})
	if !errors.Is(err, redisconn.ErrTLSSocket) {
		t.Fatalf("TLS to a Unix socket: %v, want ErrTLSSocket", err)
	}
}
