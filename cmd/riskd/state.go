package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/store"
)

// HashKeyFile is where, with --data-dir and no --hash-key, riskd keeps the hash key it generated: state keyed by
// a key that changes at every restart would be unreachable.
const HashKeyFile = "hash.key"

// retentionEvery is how often the retention job runs. Entries live for months; an hour late is nothing.
const retentionEvery = time.Hour

// hashKey returns the secret keying state keys. It must be the same across restarts (with a data dir) and across
// instances (with Redis), so: --hash-key if given; else, with --redis, an error, since instances cannot agree on
// a key none was given; else, with --data-dir, the key kept in the data dir (generated once); else a random key
// for this process only.
func hashKey(c serveConfig, log *slog.Logger) ([]byte, error) {
	switch {
	case c.hashKey != "":
		return []byte(c.hashKey), nil
	case c.redis != "":
		return nil, errors.New("--redis needs --hash-key: every instance sharing Redis must key identifiers with the same secret")
	case c.dataDir != "":
		return dataDirKey(c.dataDir, log)
	}
	key := make([]byte, 32)
	rand.Read(key)
	log.Info("no --hash-key: identifiers are keyed with a random per-process secret")
	return key, nil
}

// dataDirKey reads the key kept in dir, creating it (0600) the first time.
func dataDirKey(dir string, log *slog.Logger) ([]byte, error) {
	path := filepath.Join(dir, HashKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		key := bytes.TrimSpace(b)
		if len(key) == 0 {
			return nil, fmt.Errorf("hash key file %s is empty", path)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("hash key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	key := []byte(hex.EncodeToString(raw[:]))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("hash key: %w", err)
	}
	_, err = f.Write(append(key, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("hash key %s: %w", path, err)
	}
	log.Info("generated the hash key of the data dir; keep it with the data (back it up together)", "path", path)
	return key, nil
}

// keyCheck is the fingerprint of a hash key that stores keep to refuse state written under another key. It is an
// HMAC of a constant: it identifies the key without revealing it.
func keyCheck(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("riskd state key check v1"))
	return m.Sum(nil)[:16]
}

// openKeyedState is openState under the hash key the flags give (see hashKey), which it also returns: the
// extractor must key identifiers with it.
func openKeyedState(c serveConfig, reg *metrics.Set, log *slog.Logger) ([]byte, store.State, error) {
	key, err := hashKey(c, log)
	if err != nil {
		return nil, nil, err
	}
	st, err := openState(c, key, reg, log)
	return key, st, err
}

// openState opens the state the flags ask for: Redis (shared), a data dir (embedded, durable) or memory only.
func openState(c serveConfig, key []byte, reg *metrics.Set, log *slog.Logger) (store.State, error) {
	if c.redis != "" && c.dataDir != "" {
		return nil, errors.New("--redis and --data-dir exclude each other: with Redis, state lives in Redis")
	}
	switch {
	case c.redis != "":
		var addrs []string
		for _, a := range strings.Split(c.redis, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		access, err := redisAccessOf(c, log)
		if err != nil {
			return nil, err
		}
		return store.OpenRedis(store.RedisConfig{Addrs: addrs, Username: access.user, Password: access.password,
			TLS: access.tls, Timeout: c.redisTimeout, MaxKeys: c.velocityKeys,
			MaxProfiles: c.maxProfiles, Retention: c.retention, KeyCheck: keyCheck(key), Logger: log, Metrics: store.NewMetrics(reg)})
	case c.dataDir != "":
		return store.OpenEmbedded(store.EmbeddedConfig{Dir: c.dataDir, MaxKeys: c.velocityKeys, MaxProfiles: c.maxProfiles,
			FlushInterval: c.flushInterval, KeyCheck: keyCheck(key), Logger: log, Metrics: store.NewMetrics(reg)})
	}
	return store.NewBoundedMemory(c.velocityKeys, c.maxProfiles), nil
}

// startRetention runs the retention job in the background; the returned stop ends it and waits for a pass in
// progress, so that the state is not closed under it. stop may be called more than once.
func startRetention(st store.State, retention time.Duration, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		runRetention(ctx, st, retention, log)
	}()
	return func() {
		cancel()
		<-done
	}
}

// runRetention drops profile entries older than the retention, now and then every retentionEvery, until ctx ends.
func runRetention(ctx context.Context, st store.State, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		start := time.Now()
		n, err := st.Expire(ctx, start.Add(-retention).Unix())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("retention pass incomplete; the next one retries", "error", err.Error(), "profiles_changed", n)
		case n > 0:
			log.Info("retention: dropped entries older than the retention", "profiles_changed", n,
				"took", time.Since(start).Round(time.Millisecond).String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
