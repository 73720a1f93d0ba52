package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// sharedHashKey keys the tests whose instances share state, and the single instance they are compared with.
const sharedHashKey = "riskd-test-shared-hash-key-0123456789"

// hashKeyFileFor writes key to a 0600 file for --hash-key-file and returns its path.
func hashKeyFileFor(t *testing.T, key string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hash.key")
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveConfigFrom parses args as riskd serve does, environment and config file included.
func serveConfigFrom(t *testing.T, args ...string) (serveConfig, error) {
	t.Helper()
	var c serveConfig
	fs := serveFlags(&c)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := refuseSecretArguments(fs); err != nil {
		return c, err
	}
	return c, applyLayers(fs)
}

// logTo returns a logger writing text lines into buf.
func logTo(buf *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(buf, nil)) }

// TestHashKeyRefusedOnCommandLine: a hash key in argv is readable by every user of the machine, so serve and
// import refuse it, pointing to the file and the environment variable, before they open anything.
func TestHashKeyRefusedOnCommandLine(t *testing.T) {
	key := strings.Repeat("k", 40)
	dir := t.TempDir()
	for _, args := range [][]string{
		// --shed bogus makes a riskd that accepted the key fail at once too, with another message.
		{"serve", "--listen", "127.0.0.1:0", "--hash-key", key, "--shed", "bogus"},
		{"serve", "--listen", "127.0.0.1:0", "--hash-key=" + key, "--shed", "bogus"},
		{"import", "--data-dir", dir, "--hash-key", key, filepath.Join(dir, "none.csv")},
	} {
		var out bytes.Buffer
		code := run(t.Context(), args, &out, &out)
		if code != 1 || !strings.Contains(out.String(), "--hash-key-file") || !strings.Contains(out.String(), hashKeyEnv) {
			t.Errorf("%v: exit %d: %s", args[:2], code, out.String())
		}
		if strings.Contains(out.String(), key) {
			t.Errorf("%v: the error repeats the key: %s", args[:2], out.String())
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("import refused, yet the data dir holds %v", entries)
	}
}

// TestHashKeyTooShortRefused: every source of a key refuses one shorter than MinHashKey.
func TestHashKeyTooShortRefused(t *testing.T) {
	short := strings.Repeat("s", MinHashKey-1)
	var logs bytes.Buffer
	log := logTo(&logs)

	if _, err := hashKey(serveConfig{hashKeyFile: hashKeyFileFor(t, "  "+short+"  ")}, log); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("short key file: %v, want refused", err)
	}
	t.Setenv(hashKeyEnv, short)
	c, err := serveConfigFrom(t)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hashKey(c, log); err == nil || !strings.Contains(err.Error(), "at least 32") || strings.Contains(err.Error(), short) {
		t.Errorf("short key in %s: %v, want refused without repeating it", hashKeyEnv, err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, HashKeyFile), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := hashKey(serveConfig{dataDir: dir}, log); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("short key in the data dir: %v, want refused", err)
	}
	if _, err := hashKey(serveConfig{hashKeyFile: hashKeyFileFor(t, strings.Repeat("s", MinHashKey))}, log); err != nil {
		t.Errorf("a key of exactly %d bytes: %v", MinHashKey, err)
	}
}

// TestHashKeyFromFileOrEnvironment: the file (less its newline) and RISKD_HASH_KEY (also through the config
// file's key) are accepted; giving both is refused as ambiguous.
func TestHashKeyFromFileOrEnvironment(t *testing.T) {
	var logs bytes.Buffer
	log := logTo(&logs)
	want := "file-key-0123456789abcdefghijklmnopqrstuvwxyz"

	c, err := serveConfigFrom(t, "--hash-key-file", hashKeyFileFor(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := hashKey(c, log); err != nil || string(got) != want {
		t.Fatalf("from the file: %q %v, want %q", got, err, want)
	}

	envKey := "env-key-0123456789abcdefghijklmnopqrstuvwxyz"
	t.Setenv(hashKeyEnv, envKey)
	c, err = serveConfigFrom(t, "--redis", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := hashKey(c, log); err != nil || string(got) != envKey {
		t.Fatalf("from %s: %q %v", hashKeyEnv, got, err)
	}
	c, err = serveConfigFrom(t, "--hash-key-file", hashKeyFileFor(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hashKey(c, log); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Fatalf("file and environment: %v, want refused", err)
	}

	os.Unsetenv(hashKeyEnv)
	cfg := filepath.Join(t.TempDir(), "riskd.yaml")
	if err := os.WriteFile(cfg, []byte("hash-key: "+want+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = serveConfigFrom(t, "--config", cfg); err != nil {
		t.Fatal(err)
	}
	if got, err := hashKey(c, log); err != nil || string(got) != want {
		t.Fatalf("from the config file: %q %v", got, err)
	}
}

// TestDataDirKeyFromEarlierReleasesStillLoads: a data dir whose key an earlier riskd generated into it keeps
// opening under that key (with a warning about backups); given the same key by --hash-key-file, it opens too,
// and riskd says to delete the copy.
func TestDataDirKeyFromEarlierReleasesStillLoads(t *testing.T) {
	dir := t.TempDir()
	const old = "6f1c0a9b2e8d47f3a5c6b7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f901234" // as earlier releases wrote it
	if err := os.WriteFile(filepath.Join(dir, HashKeyFile), []byte(old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := logTo(&logs)
	c := serveConfig{dataDir: dir, velocityKeys: 1024, flushInterval: time.Second}
	key, st, err := openKeyedState(c, metrics.NewSet(), log)
	if err != nil || string(key) != old {
		t.Fatalf("existing data dir: %q %v", key, err)
	}
	st.Close()
	if !strings.Contains(logs.String(), "backup") {
		t.Errorf("no warning that backups carry the key:\n%s", logs.String())
	}

	logs.Reset()
	c.hashKeyFile = hashKeyFileFor(t, old)
	key, st, err = openKeyedState(c, metrics.NewSet(), log)
	if err != nil || string(key) != old {
		t.Fatalf("the same key from a file: %q %v", key, err)
	}
	st.Close()
	if !strings.Contains(logs.String(), "still holds a copy") {
		t.Errorf("no advice to delete the data dir's copy:\n%s", logs.String())
	}
}
