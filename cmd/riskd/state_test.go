package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	bolt "go.etcd.io/bbolt"

	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/store"
	"github.com/riskd/riskd/store/storetest"
)

// call sends a request to the process and decodes its JSON answer (nil for an empty body).
func (p *process) call(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+p.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode, m
}

// verdict is a decision as the tests compare it: the decision, the score and the reason codes.
func (p *process) verdict(t *testing.T, body string) string {
	t.Helper()
	status, m := p.call(t, http.MethodPost, "/v1/decide", body)
	if status != 200 {
		t.Fatalf("decide: %d %v", status, m)
	}
	var codes []string
	for _, r := range m["reasons"].([]any) {
		codes = append(codes, r.(map[string]any)["code"].(string))
	}
	return fmt.Sprintf("%v %v %v", m["decision"], m["score"], codes)
}

func ago(d time.Duration) string { return time.Now().Add(-d).UTC().Format(time.RFC3339) }

func loginBody(user, ip, device, creds, ts string) string {
	b := fmt.Sprintf(`{"type":"login","user_id":%q,"ip":%q`, user, ip)
	if device != "" {
		b += fmt.Sprintf(`,"device_id":%q`, device)
	}
	if creds != "" {
		b += `,"credentials_valid":` + creds
	}
	if ts != "" {
		b += fmt.Sprintf(`,"timestamp":%q`, ts)
	}
	return b + "}"
}

const (
	ipMilton    = "216.160.83.56"
	ipChangchun = "175.16.199.1"
	ipStuffer   = "89.160.20.112"
)

// teach makes riskd learn users: a login on a laptop in Milton, then a phone in Changchun trusted after MFA.
func teach(t *testing.T, p *process, users ...string) {
	t.Helper()
	for _, u := range users {
		p.verdict(t, loginBody(u, ipMilton, u+"-laptop", "true", ago(3*time.Hour)))
		if status, m := p.call(t, http.MethodPost, "/v1/events", fmt.Sprintf(
			`{"type":"mfa_passed","user_id":%q,"ip":%q,"device_id":%q,"timestamp":%q}`, u, ipChangchun, u+"-phone", ago(2*time.Hour))); status != 200 {
			t.Fatalf("mfa_passed: %d %v", status, m)
		}
	}
}

// eventuallyKeys polls keys until it returns want of them or 10 s pass, and returns the last answer: profile
// changes reach Redis through a queue written behind the request, a moment after the answer.
func eventuallyKeys(keys func() []string, want int) []string {
	got := keys()
	for deadline := time.Now().Add(10 * time.Second); len(got) != want && time.Now().Before(deadline); got = keys() {
		time.Sleep(20 * time.Millisecond)
	}
	return got
}

// probes are decisions that teach nothing (no credentials_valid), so asking them twice gives the same answers
// when the state is the same: known laptop, trusted phone, unknown tablet, and an address with failures.
func probes(t *testing.T, p *process, users []string) []string {
	t.Helper()
	var out []string
	for _, u := range users {
		out = append(out,
			p.verdict(t, loginBody(u, ipMilton, u+"-laptop", "", "")),
			p.verdict(t, loginBody(u, ipChangchun, u+"-phone", "", "")),
			p.verdict(t, loginBody(u, ipChangchun, u+"-tablet", "", "")))
	}
	return append(out, p.verdict(t, loginBody("someone", ipStuffer, "", "", "")))
}

// TestRestartKeepsDecisions learns devices and counts failures, stops riskd cleanly, starts it on the same data
// dir and asks the same questions: the answers are the same.
func TestRestartKeepsDecisions(t *testing.T) {
	dir := t.TempDir()
	users := []string{"ana", "bo", "cy"}
	p := startProcess(t, "--data-dir", dir)
	teach(t, p, users...)
	for i := range 12 { // ip_high_failure_rate from the tenth failure in 10 minutes
		p.verdict(t, loginBody(fmt.Sprintf("victim-%d", i), ipStuffer, "", "false", ""))
	}
	before := probes(t, p, users)
	if !strings.Contains(before[1], "trusted_device") || !strings.Contains(before[2], "new_device") ||
		!strings.Contains(before[len(before)-1], "ip_high_failure_rate") {
		t.Fatalf("the probes do not show learned state: %q", before)
	}
	p.stop(t)
	if fi, err := os.Stat(filepath.Join(dir, HashKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("hash key file: %v %v", fi, err)
	}

	p = startProcess(t, "--data-dir", dir)
	after := probes(t, p, users)
	if strings.Join(before, "\n") != strings.Join(after, "\n") {
		t.Fatalf("decisions changed across a restart:\nbefore %q\nafter  %q", before, after)
	}
	p.stop(t)
}

// TestCrashLosesAtMostTheFlushInterval kills riskd with SIGKILL while it learns new users, restarts it and checks
// that every user acknowledged before the documented bound (the flush interval plus one commit) survived.
func TestCrashLosesAtMostTheFlushInterval(t *testing.T) {
	for _, c := range []struct {
		interval string
		bound    time.Duration // the flush interval, plus slack for the commit in progress
	}{
		{"1s", 1500 * time.Millisecond},
		{"0", 500 * time.Millisecond},
	} {
		t.Run("flush-interval="+c.interval, func(t *testing.T) {
			dir := t.TempDir()
			p := startProcess(t, "--data-dir", dir, "--flush-interval", c.interval)
			type ack struct {
				user string
				at   time.Time
			}
			var mu sync.Mutex
			var acks []ack
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond): // a steady load, not a flood: the check reads every user back
						}
						u := fmt.Sprintf("crash-%d-%d", w, i)
						// Users spread over addresses: thousands from one address would look like an attack
						// (ip_burst, ip_many_users) and be stepped up, which teaches no profile.
						ip := fmt.Sprintf("198.51.%d.%d", w, i%256)
						if status, err := p.decide(loginBody(u, ip, u+"-laptop", "true", "")); err != nil || status != 200 {
							return // the process is gone
						}
						mu.Lock()
						acks = append(acks, ack{u, time.Now()})
						mu.Unlock()
					}
				}()
			}
			time.Sleep(2 * time.Second)
			killed := time.Now()
			p.cmd.Process.Kill() // SIGKILL: no drain, no final flush
			p.cmd.Wait()
			close(stop)
			wg.Wait()

			p = startProcess(t, "--data-dir", dir, "--flush-interval", c.interval)
			lostOld, lostRecent, recent := 0, 0, 0
			for _, a := range acks {
				status, _ := p.call(t, http.MethodGet, "/v1/users/"+url.PathEscape(a.user), "")
				old := a.at.Before(killed.Add(-c.bound))
				if !old {
					recent++
				}
				switch {
				case status == 200:
				case old:
					lostOld++
				default:
					lostRecent++
				}
			}
			t.Logf("%d users acknowledged; %d in the last %v before the kill, of which %d lost", len(acks), recent, c.bound, lostRecent)
			if len(acks) < 100 || lostOld > 0 {
				t.Fatalf("%d of %d users acknowledged more than %v before the kill were lost", lostOld, len(acks)-recent, c.bound)
			}
			p.stop(t)
		})
	}
}

// TestErasureLeavesNoTrace erases a user from a durable and from a shared riskd: the export shows devices and
// places first, then 404; the data dir (every bbolt bucket, the velocity snapshot) or Redis (SCAN) holds no key
// of the user; the next login is a new user's.
func TestErasureLeavesNoTrace(t *testing.T) {
	const secret = "erasure-test-key-0123456789abcdefghij"
	userKey := features.NewHasher([]byte(secret)).User("ana")

	t.Run("data-dir", func(t *testing.T) {
		dir := t.TempDir()
		p := startProcess(t, "--data-dir", dir, "--hash-key-file", hashKeyFileFor(t, secret))
		teach(t, p, "ana", "bo")
		erase(t, p)
		p.stop(t)
		be := binary.BigEndian.AppendUint64(nil, userKey)
		le := binary.LittleEndian.AppendUint64(nil, userKey)
		if n := boltKeys(t, filepath.Join(dir, store.DBFile), be, le); n != 0 {
			t.Fatalf("the database holds %d keys of the erased user", n)
		}
		if snap, err := os.ReadFile(filepath.Join(dir, store.SnapshotFile)); err != nil || bytes.Contains(snap, le) {
			t.Fatalf("velocity snapshot: %v, holds the user: %v", err, err == nil)
		}
		p = startProcess(t, "--data-dir", dir, "--hash-key-file", hashKeyFileFor(t, secret))
		afterErasure(t, p)
		p.stop(t)
	})

	t.Run("redis", func(t *testing.T) {
		srv := storetest.StartRedis(t)
		p := startProcess(t, "--redis", srv.Addr, "--hash-key-file", hashKeyFileFor(t, secret), "--redis-timeout", "1s")
		teach(t, p, "ana", "bo")
		userKeys := func() []string { return srv.Keys(t, "*"+store.UserKeyHex(userKey)+"*") }
		if keys := eventuallyKeys(userKeys, 2); len(keys) != 2 {
			t.Fatalf("before erasure redis holds %v for the user, want its record and its profile", keys)
		}
		waitDevices(t, p, "ana", 2)
		erase(t, p)
		if keys := srv.Keys(t, "*"+store.UserKeyHex(userKey)+"*"); !onlyTombstone(keys) {
			t.Fatalf("redis still holds %v", keys)
		}
		afterErasure(t, p)
		p.stop(t)
	})
}

// waitDevices waits (up to 10 s) until user's export lists n devices: with Redis, the profile key appears with the
// first login's change while a later one (mfa_passed) may still be queued.
func waitDevices(t *testing.T, p *process, user string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, m := p.call(t, http.MethodGet, "/v1/users/"+user, "")
		if devices, _ := m["devices"].([]any); len(devices) >= n {
			return
		}
	}
}

// onlyTombstone reports whether keys, a user's keys in Redis after an erasure, are just the erasure's tombstone
// (which holds its time and nothing else; see store/redis_erasures.go).
func onlyTombstone(keys []string) bool {
	return len(keys) == 1 && strings.HasSuffix(keys[0], "}:t")
}

func erase(t *testing.T, p *process) {
	t.Helper()
	status, m := p.call(t, http.MethodGet, "/v1/users/ana", "")
	if status != 200 || len(m["devices"].([]any)) != 2 || len(m["countries"].([]any)) != 2 || m["last_login"] == nil {
		t.Fatalf("export before erasure: %d %v", status, m)
	}
	for range 2 {
		if status, m := p.call(t, http.MethodDelete, "/v1/users/ana", ""); status != http.StatusNoContent {
			t.Fatalf("erase: %d %v", status, m)
		}
	}
	if status, _ := p.call(t, http.MethodGet, "/v1/users/ana", ""); status != http.StatusNotFound {
		t.Fatalf("export after erasure: %d", status)
	}
	if status, _ := p.call(t, http.MethodGet, "/v1/users/bo", ""); status != 200 {
		t.Fatalf("another user's export after the erasure: %d", status)
	}
}

func afterErasure(t *testing.T, p *process) {
	t.Helper()
	if status, _ := p.call(t, http.MethodGet, "/v1/users/ana", ""); status != http.StatusNotFound {
		t.Fatalf("export after erasure: %d", status)
	}
	status, m := p.call(t, http.MethodPost, "/v1/decide?explain=1", loginBody("ana", ipChangchun, "ana-phone", "", ""))
	f, _ := m["features"].(map[string]any)
	if status != 200 || f["new_user"] != true || f["trusted_device"] != false {
		t.Fatalf("after erasure the user must be new: %d %v", status, f)
	}
}

// boltKeys counts the keys containing a needle in every bucket of a bbolt file, nested ones included.
func boltKeys(t *testing.T, path string, needles ...[]byte) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	var walk func(b *bolt.Bucket)
	walk = func(b *bolt.Bucket) {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			for _, s := range needles {
				if bytes.Contains(k, s) {
					n++
				}
			}
			if v == nil {
				walk(b.Bucket(k))
			}
		}
	}
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { walk(b); return nil })
	})
	return n
}

// stuffing sends failed logins for n different users from one address, round-robin over ps, and returns the
// decisions.
func stuffing(t *testing.T, ip string, n int, ps ...*process) []string {
	t.Helper()
	out := make([]string, n)
	for i := range n {
		if len(ps) > 1 {
			// What one instance counted reaches the others once its writer has sent it to Redis: at once with
			// --redis-flush 0, yet after the answer. An attack spread across instances at this pace is counted
			// as one; faster, each instance sees the others' attempts up to --redis-flush and --redis-fresh late.
			time.Sleep(sharedPace)
		}
		out[i] = ps[i%len(ps)].verdict(t, loginBody(fmt.Sprintf("stuffed-%s-%d", ip, i), ip, "", "false", ""))
	}
	return out
}

// sharedPace is the pause between the attempts of an attack spread across instances sharing Redis (stuffing),
// and sharedFlags what those instances run with: every subject read at every decision, counts written at once.
const sharedPace = 100 * time.Millisecond

var sharedFlags = []string{"--redis-timeout", "1s", "--redis-fresh", "0", "--redis-flush", "0"}

func firstDeny(verdicts []string) int {
	for i, v := range verdicts {
		if strings.HasPrefix(v, "deny") {
			return i
		}
	}
	return -1
}

// singleNodeStuffing is the baseline the shared-state tests compare with: the decisions one riskd gives to
// attempts failed logins from one address, the first deny at attempt 20 (ip_credential_stuffing).
func singleNodeStuffing(t *testing.T, attempts int) []string {
	t.Helper()
	// The same hash key as the shared tests: distinct counts beyond 8 are estimates from the keyed hashes.
	single := startProcess(t, "--hash-key-file", hashKeyFileFor(t, sharedHashKey))
	want := stuffing(t, ipStuffer, attempts, single)
	if firstDeny(want) != 20 {
		t.Fatalf("single riskd: first deny at attempt %d, want 20 (ip_credential_stuffing): %q", firstDeny(want), want)
	}
	single.stop(t)
	return want
}

// TestSharedRedisCountsAttackAsOne runs three riskd on one redis-server. Credential stuffing spread round-robin
// across them is denied at the same attempt as on a single riskd. Then redis-server is killed under load: no
// request fails; once it is back, the instances share again by themselves.
func TestSharedRedisCountsAttackAsOne(t *testing.T) {
	const attempts = 25
	want := singleNodeStuffing(t, attempts)

	srv := storetest.StartRedis(t)
	var nodes []*process
	for range 3 {
		// A generous budget: this test is about counting as one, not about latency on a machine running the
		// whole suite at once (a late answer falls back to local state, by design).
		nodes = append(nodes, startProcess(t, append([]string{"--redis", srv.Addr, "--hash-key-file", hashKeyFileFor(t, sharedHashKey)}, sharedFlags...)...))
	}
	if got := stuffing(t, ipStuffer, attempts, nodes...); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("three riskd sharing redis decided differently from one:\ngot  %q\nwant %q", got, want)
	}

	// Redis dies under load: every request is still answered.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent, failed := 0, 0
	for i, p := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Microsecond):
				}
				status, err := p.decide(loginBody(fmt.Sprintf("load-%d-%d", i, j%50), ipMilton, "dev", "true", ""))
				mu.Lock()
				sent++
				if err != nil || status != 200 {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	srv.Kill()
	time.Sleep(time.Second)
	for _, p := range nodes {
		if !redisUp(t, p, false) {
			t.Fatalf("riskd does not report redis down:\n%s", p.logs.String())
		}
	}
	srv.Start(t)
	for _, p := range nodes {
		deadline := time.Now().Add(10 * time.Second)
		for !redisUp(t, p, true) {
			if time.Now().After(deadline) {
				t.Fatalf("riskd did not reconnect to redis:\n%s", p.logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if sent < 100 || failed != 0 {
		t.Fatalf("%d requests while redis died and came back, %d failed", sent, failed)
	}
	t.Logf("%d requests while redis died and came back, none failed", sent)
	for _, p := range nodes {
		if logs := p.logs.String(); !strings.Contains(logs, "redis unreachable") || !strings.Contains(logs, "redis reachable again") {
			t.Fatalf("the outage and the recovery are not logged:\n%s", logs)
		}
	}

	// Sharing resumed: a new attack across the three is again denied at the same attempt as on one riskd.
	if got := stuffing(t, "89.160.20.113", attempts, nodes...); firstDeny(got) != 20 {
		t.Fatalf("after recovery: first deny at attempt %d, want 20: %q", firstDeny(got), got)
	}
	for _, p := range nodes {
		p.stop(t)
	}
}

// redisUp reports whether p's /metrics says riskd_state_redis_up is up.
func redisUp(t *testing.T, p *process, up bool) bool {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := "riskd_state_redis_up 0"
	if up {
		want = "riskd_state_redis_up 1"
	}
	return strings.Contains(string(body), want)
}

func TestStateFlagsRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--redis", "127.0.0.1:1"}, "--redis needs a hash key"},
		{[]string{"--redis", "127.0.0.1:1", "--hash-key-file", hashKeyFileFor(t, sharedHashKey), "--data-dir", t.TempDir()}, "exclude each other"},
	} {
		var out bytes.Buffer
		args := append([]string{"serve", "--listen", "127.0.0.1:0"}, c.args...)
		if code := run(t.Context(), args, &out, &out); code != 1 || !strings.Contains(out.String(), c.want) {
			t.Errorf("%v: exit %d: %s", c.args, code, out.String())
		}
	}
}

// TestDataDirKeepsItsHashKey: the key generated for a data dir is reused, and a data dir is refused under
// another key.
func TestDataDirKeepsItsHashKey(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	k1, err := hashKey(serveConfig{dataDir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := hashKey(serveConfig{dataDir: dir}, log)
	if err != nil || !bytes.Equal(k1, k2) || len(k1) != 64 {
		t.Fatalf("second read: %q %v (first %q)", k2, err, k1)
	}
	c := serveConfig{dataDir: dir, velocityKeys: 1024, flushInterval: time.Second}
	st, err := openState(c, k1, metrics.NewSet(), log)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := openState(c, []byte("another"), metrics.NewSet(), log); !errors.Is(err, store.ErrKeyMismatch) {
		t.Fatalf("another key: %v, want ErrKeyMismatch", err)
	}
}
