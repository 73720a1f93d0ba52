package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/internal/testenv"
	"github.com/riskd/riskd/store"
	"github.com/riskd/riskd/store/storetest"
)

// stateFromArgs opens the state serve would open from args (and the environment), as serve parses them.
func stateFromArgs(t *testing.T, args ...string) (store.State, error) {
	t.Helper()
	t.Setenv("RISKD_HASH_KEY", strings.Repeat("k", 32))
	var c serveConfig
	fs := serveFlags(&c)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := applyLayers(fs); err != nil {
		return nil, err
	}
	_, st, err := openKeyedState(c, metrics.NewSet(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Cleanup(func() { st.Close() })
	}
	return st, err
}

// TestRedisPasswordNeverOnArgv: the Redis password is taken from a file or RISKD_REDIS_PASSWORD only; no flag,
// config-file key or RISKD_ variable of a flag carries it.
func TestRedisPasswordNeverOnArgv(t *testing.T) {
	var out bytes.Buffer
	if code := run(t.Context(), []string{"serve", "--redis-password", "s3cret"}, &out, &out); code == 0 ||
		!strings.Contains(out.String(), "flag provided but not defined: -redis-password") {
		t.Fatalf("--redis-password on the command line: exit %d: %s", code, out.String())
	}
	cfg := filepath.Join(t.TempDir(), "riskd.yaml")
	os.WriteFile(cfg, []byte("redis-password: s3cret\n"), 0o600)
	if _, err := stateFromArgs(t, "--config", cfg); err == nil || !strings.Contains(err.Error(), `unknown key "redis-password"`) {
		t.Fatalf("redis-password in the config file: %v", err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	t.Setenv(RedisPasswordEnv, "s3cret")
	if _, err := stateFromArgs(t, "--redis", "127.0.0.1:1", "--redis-password-file", pw); err == nil ||
		!strings.Contains(err.Error(), "both give the Redis password") {
		t.Fatalf("file and environment at once: %v", err)
	}
}

// TestRedisAccessFlags: riskd reaches a Redis that requires a password, TLS and a client certificate, with the
// password from a file or from the environment; without the password it refuses to start (store.ErrAuth).
func TestRedisAccessFlags(t *testing.T) {
	certs := testenv.NewCerts(t)
	srv := storetest.StartRedisWith(t, storetest.Options{TLS: certs, AuthClients: "yes",
		Args: []string{"--requirepass", "s3cret"}, Password: "s3cret"})
	pw := filepath.Join(t.TempDir(), "redis.pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsArgs := []string{"--redis", srv.Addr, "--redis-timeout", "1s", "--redis-ca", certs.CA,
		"--redis-cert", certs.ClientCert, "--redis-key", certs.ClientKey}
	healthy := func(st store.State) {
		t.Helper()
		var r store.Reading
		st.Observe(store.Subjects{IP: 1, HasIP: true}, time.Now().Unix(), store.SetOf(store.Attempts), &r)
		if err := st.Health(); err != nil {
			t.Fatal(err)
		}
	}
	st, err := stateFromArgs(t, append(tlsArgs, "--redis-password-file", pw)...)
	if err != nil {
		t.Fatal(err)
	}
	healthy(st)
	t.Run("environment", func(t *testing.T) {
		t.Setenv(RedisPasswordEnv, "s3cret")
		st, err := stateFromArgs(t, tlsArgs...)
		if err != nil {
			t.Fatal(err)
		}
		healthy(st)
	})
	if _, err := stateFromArgs(t, tlsArgs...); !errors.Is(err, store.ErrAuth) {
		t.Fatalf("without the password: %v, want store.ErrAuth", err)
	}
	// The CA is checked: another CA's trust refuses Redis's certificate.
	bad := append([]string{}, tlsArgs...)
	bad[slices.Index(bad, certs.CA)] = certs.OtherCA
	if _, err := stateFromArgs(t, append(bad, "--redis-password-file", pw)...); !errors.Is(err, store.ErrAuth) {
		t.Fatalf("a CA that did not sign Redis's certificate: %v, want store.ErrAuth", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--redis-cert", certs.ClientCert}, "--redis-cert and --redis-key go together"},
		{[]string{"--redis-user", "riskd"}, "--redis-user needs a password"},
		{[]string{"--redis-ca", pw}, "holds no PEM certificate"},
	} {
		if _, err := stateFromArgs(t, append([]string{"--redis", srv.Addr}, c.args...)...); err == nil ||
			!strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
