package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/store"
)

// retentionEvery is how often the retention job runs. Entries live for months; an hour late is nothing.
const retentionEvery = time.Hour

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
		access, err := redisAccessOf(c, log)
		if err != nil {
			return nil, err
		}
		return store.OpenRedis(store.RedisConfig{Addrs: c.redisAddrs(), Username: access.user, Password: access.password,
			TLS: access.tls, Timeout: c.redisTimeout, Fresh: orAtOnce(c.redisFresh), FlushEvery: orAtOnce(c.redisFlush), MaxKeys: c.velocityKeys,
			MaxProfiles: c.maxProfiles, Retention: c.retention, KeyCheck: keyCheck(key), Logger: log, Metrics: store.NewMetrics(reg)})
	case c.dataDir != "":
		return store.OpenEmbedded(store.EmbeddedConfig{Dir: c.dataDir, MaxKeys: c.velocityKeys, MaxProfiles: c.maxProfiles,
			FlushInterval: c.flushInterval, KeyCheck: keyCheck(key), Logger: log, Metrics: store.NewMetrics(reg)})
	}
	return store.NewBoundedMemory(c.velocityKeys, c.maxProfiles), nil
}

// redisAddrs are the addresses --redis lists.
func (c serveConfig) redisAddrs() []string {
	var addrs []string
	for _, a := range strings.Split(c.redis, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// orAtOnce is a duration flag as store.RedisConfig takes it: there 0 is the default and a negative value "at
// once", on the command line 0 is "at once".
func orAtOnce(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
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
