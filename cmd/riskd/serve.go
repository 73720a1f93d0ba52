package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/control"
	"github.com/riskd/riskd/decisionlog"
	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/features/money"
	"github.com/riskd/riskd/features/useragent"
	"github.com/riskd/riskd/lists"
	"github.com/riskd/riskd/rules"
	"github.com/riskd/riskd/server"
	"github.com/riskd/riskd/store"
)

type serveConfig struct {
	listen            string
	adminListen       string
	keys              string
	auditLog          string
	tlsCert           string
	tlsKey            string
	adminTLSCert      string
	adminTLSKey       string
	maxInflight       int
	queueBudget       time.Duration
	queueTarget       time.Duration
	decisionLog       string
	logMaxBytes       int64
	logRetention      time.Duration
	shed              string
	failPolicy        string
	kratosIPHeader    string
	kratosDeadline    time.Duration
	kratosStepUpTTL   time.Duration
	config            string
	geoCity           string
	geoASN            string
	geoAnonymous      string
	rules             string
	shadowRules       string
	lists             string
	hashKey           string
	hashKeyFile       string
	dataDir           string
	redis             string
	redisTimeout      time.Duration
	redisFresh        time.Duration
	redisFlush        time.Duration
	redisUser         string
	redisPasswordFile string
	redisTLS          bool
	redisCA           string
	redisCert         string
	redisKey          string
	flushInterval     time.Duration
	retention         time.Duration
	maxBody           int
	maxAdminBody      int
	concurrency       int
	maxConnsPerIP     int
	idleTimeout       time.Duration
	velocityKeys      int
	maxProfiles       int
	drainDelay        time.Duration
	shutdownTimeout   time.Duration
	logLevel          string
	watch             time.Duration
	currencyRates     string
	controlPoll       time.Duration
	instanceName      string
	pprof             bool
	ssf               ssfConfig
}

func serveFlags(c *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to serve on")
	fs.StringVar(&c.adminListen, "admin-listen", "", "serve the admin endpoints (rules, users, metrics) on this address instead of --listen")
	fs.StringVar(&c.keys, "keys", "", "API keyring file (YAML: name, sha256, scopes, tenants; see `riskd key`); without it riskd serves only loopback")
	fs.StringVar(&c.auditLog, "audit-log", "", "append administrative changes (erasures, preferences, reloads) to this file as JSON lines (default: stderr)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves HTTPS on --listen, and on --admin-listen unless --admin-tls-cert is set")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.adminTLSCert, "admin-tls-cert", "", "TLS certificate file (PEM) for --admin-listen (default: --tls-cert)")
	fs.StringVar(&c.adminTLSKey, "admin-tls-key", "", "TLS private key file (PEM) for --admin-listen (default: --tls-key)")
	fs.IntVar(&c.maxInflight, "max-inflight", 1024, "decide/events requests evaluated at once; beyond it requests are shed")
	fs.DurationVar(&c.queueBudget, "queue-budget", 0, "shed decide/events requests that waited longer than this before reaching riskd, by the caller's X-Request-Start header; 0 = off")
	fs.DurationVar(&c.queueTarget, "queue-target", 0, "with --queue-budget: shed stamped requests at random, as much as holds the delay before riskd at this, answering those already past the budget (which then refuses nothing itself; docs/OVERLOAD.md); 0 = off")
	fs.StringVar(&c.shed, "shed", "reject", "how to shed when overloaded: reject (503 + Retry-After) or fallback (the fail-policy decision)")
	fs.StringVar(&c.failPolicy, "fail-policy", engine.DefaultFailPolicy().String(), "decision per event type when riskd cannot evaluate an event")
	fs.StringVar(&c.kratosIPHeader, "kratos-ip-header", "True-Client-Ip", "request header the Ory Kratos hooks read the client's address from (one that Kratos forwards and your proxy sets)")
	fs.DurationVar(&c.kratosDeadline, "kratos-deadline", 250*time.Millisecond, "how long a Kratos hook waits for a decision before answering with the fail policy")
	fs.DurationVar(&c.kratosStepUpTTL, "kratos-step-up-ttl", 24*time.Hour, "how long an identity a Kratos login stepped up is asked for aal2 (keep it at Kratos's session lifespan)")
	fs.StringVar(&c.decisionLog, "decision-log", "", "directory for the decision log (decisions.ndjson, rotated by size); empty = no log")
	fs.Int64Var(&c.logMaxBytes, "decision-log-max-bytes", 64<<20, "rotate the decision log beyond this size")
	fs.DurationVar(&c.logRetention, "decision-log-retention", 30*24*time.Hour, "delete decision log records this old (whole files; the current file rotates daily); 0 = keep the newest files only")
	fs.StringVar(&c.config, "config", "", "YAML config file; keys are these flags' names")
	fs.StringVar(&c.geoCity, "geoip-city", "", "GeoIP2/GeoLite2 City mmdb file")
	fs.StringVar(&c.geoASN, "geoip-asn", "", "GeoLite2 ASN mmdb file")
	fs.StringVar(&c.geoAnonymous, "geoip-anonymous", "", "GeoIP2 Anonymous-IP mmdb file")
	fs.StringVar(&c.currencyRates, "currency-rates", "", "currency rates file (lines CODE RATE into the reporting currency named by a line \"base CODE\"; docs/CHECKOUT.md); default: the embedded table; reloaded when it changes")
	fs.StringVar(&c.rules, "rules", "", "rule file, or directory of *.yaml rule files (default: the built-in rule set); its tests must pass; SIGHUP reloads it")
	fs.StringVar(&c.lists, "lists", "", "directory of list files NAME.KIND.txt (kind: ip, asn, country, device, user, value) for in_list(\"NAME\") and in_list(\"NAME\", attr(\"ATTRIBUTE\")) in rules; SIGHUP reloads them")
	fs.StringVar(&c.shadowRules, "shadow-rules", "", "a candidate rule file evaluated beside the live set, never changing an answer; SIGHUP reloads it")
	fs.StringVar(&c.hashKey, "hash-key", "", "secret (>= 32 bytes) that keys the hashes of user, device and IP identifiers; only from the environment ("+hashKeyEnv+") or the config file, never the command line (default: kept in --data-dir, else random per process; required with --redis)")
	fs.StringVar(&c.hashKeyFile, "hash-key-file", "", "file holding the hash key (>= 32 bytes; keep it outside --data-dir, so backups of the data do not carry it)")
	fs.StringVar(&c.dataDir, "data-dir", "", "directory where state is made durable (profiles, velocity snapshot, hash key); empty = memory only")
	fs.StringVar(&c.redis, "redis", "", "host:port[,host:port...] of a Redis or Redis Cluster shared by riskd instances, or the path of a Redis's Unix socket on this host; empty = embedded state")
	fs.DurationVar(&c.redisTimeout, "redis-timeout", 25*time.Millisecond, "budget of a decision's Redis round trip; beyond it the decision uses local state")
	fs.DurationVar(&c.redisFresh, "redis-fresh", 250*time.Millisecond, "how long a subject read from Redis is decided on locally before it is read again: what other instances counted arrives this much later (0: read at every decision)")
	fs.DurationVar(&c.redisFlush, "redis-flush", 5*time.Millisecond, "how long the writer gathers counted subjects before writing this instance's records to Redis (0: at once)")
	fs.StringVar(&c.redisUser, "redis-user", "", "Redis ACL user riskd authenticates as (default: the password alone, for requirepass)")
	fs.StringVar(&c.redisPasswordFile, "redis-password-file", "", "file holding the Redis password (or set "+RedisPasswordEnv+"; there is no flag for the password itself)")
	fs.BoolVar(&c.redisTLS, "redis-tls", false, "connect to Redis over TLS (implied by --redis-ca, --redis-cert)")
	fs.StringVar(&c.redisCA, "redis-ca", "", "PEM file of the CA(s) that sign Redis's certificates (default: the system's roots)")
	fs.StringVar(&c.redisCert, "redis-cert", "", "PEM client certificate riskd presents to Redis (for tls-auth-clients yes), with --redis-key")
	fs.StringVar(&c.redisKey, "redis-key", "", "PEM private key of --redis-cert")
	fs.DurationVar(&c.flushInterval, "flush-interval", time.Second, "with --data-dir, how often changed profiles are committed (fsynced); a crash loses at most this much; 0 = every batch")
	fs.DurationVar(&c.retention, "retention", 180*24*time.Hour, "how long profile entries (devices, countries, last login) are kept; older events are refused")
	fs.IntVar(&c.maxBody, "max-body", 16<<10, "largest request body of decide, events and non-admin requests, bytes")
	fs.IntVar(&c.maxAdminBody, "max-admin-body", 1<<20, "largest body of an admin request (rule files, lists) from a caller with an admin key, bytes")
	fs.IntVar(&c.concurrency, "concurrency", 4096, "requests served at once")
	fs.IntVar(&c.maxConnsPerIP, "max-conns-per-ip", 512, "connections one client (an IPv4 address, an IPv6 /64) may hold open per listener; more are closed at once (0 = no bound; raise it behind a proxy)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 120*time.Second, "close keep-alive connections idle longer than this; keep it above your clients' pool idle timeouts")
	fs.IntVar(&c.velocityKeys, "velocity-keys", 1<<20, "keys held per velocity table (users, IPs, devices)")
	fs.IntVar(&c.maxProfiles, "max-profiles", store.DefaultProfiles, "user profiles held in memory; beyond, the least recently used are evicted (with --data-dir they stay on disk and are read back when used; without, those users look new again)")
	fs.DurationVar(&c.drainDelay, "drain-delay", 0, "on SIGTERM, how long /readyz answers 503 before the listener closes")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight requests get to finish on shutdown")
	fs.DurationVar(&c.watch, "watch", 5*time.Second, "how often to check the rule, list and GeoIP files for changes and reload them (0 = only on SIGHUP)")
	fs.DurationVar(&c.controlPoll, "control-poll", 500*time.Millisecond, "how often each instance reads the newest versions of the rule sets, lists and exceptions from the control store (docs/CONTROL.md)")
	fs.StringVar(&c.instanceName, "instance-name", "", "this instance's name in the console's list of instances sharing the control store (default hostname:pid; docs/CONSOLE-API.md)")
	fs.BoolVar(&c.pprof, "pprof", false, "serve Go's profiler under /debug/pprof/ with the admin endpoints (admin scope)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	ssfFlags(fs, &c.ssf)
	return fs
}

// serve runs the HTTP API until ctx ends or SIGINT/SIGTERM arrives, then drains and stops.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	var c serveConfig
	fs := serveFlags(&c)
	if err := parseServeFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := refuseSecretArguments(fs); err != nil {
		return err
	}
	if err := applyLayers(fs); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	// The watched files' state before anything is read from them: a file changed while riskd starts is reloaded
	// at the watcher's first tick instead of being missed.
	watched := []string{c.rules, c.shadowRules, c.lists, c.keys, c.geoCity, c.geoASN, c.geoAnonymous, c.currencyRates}
	loaded := fingerprint(watched)

	keys := &server.Keyring{}
	if c.keys != "" {
		var err error
		if keys, err = server.LoadKeyring(c.keys); err != nil {
			return err
		}
	}
	if c.queueBudget < 0 {
		return fmt.Errorf("queue-budget %v: want 0 (off) or a positive duration", c.queueBudget)
	}
	if c.queueTarget < 0 || c.queueTarget > 0 && (c.queueBudget == 0 || c.queueTarget >= c.queueBudget) {
		return fmt.Errorf("queue-target %v: want 0 (off), or a positive duration below --queue-budget (%v)", c.queueTarget, c.queueBudget)
	}
	if c.shed != "reject" && c.shed != "fallback" {
		return fmt.Errorf("shed %q: want reject or fallback", c.shed)
	}
	policy, err := engine.ParseFailPolicy(c.failPolicy)
	if err != nil {
		return err
	}
	if c.logRetention < 0 {
		return fmt.Errorf("decision-log-retention %v: want 0 (keep the newest files only) or a positive duration", c.logRetention)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if (c.adminTLSCert == "") != (c.adminTLSKey == "") {
		return errors.New("--admin-tls-cert and --admin-tls-key go together")
	}
	adminCert, adminKey := adminTLS(c)
	auditOut := io.Writer(stderr)
	if c.auditLog != "" {
		f, err := os.OpenFile(c.auditLog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		defer f.Close()
		auditOut = f
	}

	ln, err := listen(c.listen, keys.Len() > 0)
	if err != nil {
		return err
	}
	defer ln.Close()
	var adminLn net.Listener
	if c.adminListen != "" {
		if adminLn, err = listen(c.adminListen, keys.Len() > 0); err != nil {
			return err
		}
		defer adminLn.Close()
	}

	db, err := openGeo(c)
	if err != nil {
		return err
	}
	set, err := loadRules(c.rules)
	if err != nil {
		return err
	}
	if err := testRules(set, db); err != nil {
		return err
	}
	reg := metrics.NewSet()
	key, st, err := openKeyedState(c, reg, log)
	if err != nil {
		return err
	}
	defer st.Close() // for the early returns below; shutdown closes it first
	stopRetention := startRetention(st, c.retention, log)
	defer stopRetention()
	var dlog *decisionlog.Log
	if c.decisionLog != "" {
		if dlog, err = decisionlog.Open(decisionlog.Config{Dir: c.decisionLog, MaxBytes: c.logMaxBytes, MaxAge: c.logRetention}); err != nil {
			return err
		}
		dlog.RegisterMetrics(reg)
	}
	hasher := features.NewHasher(key)
	listReg, err := newListRegistry(hasher, c.lists)
	if err != nil {
		return err
	}
	stopLists := make(chan struct{})
	defer close(stopLists)
	go maintainLists(listReg, log, stopLists)
	x := features.NewExtractor(hasher, st, db)
	if c.currencyRates != "" {
		rates, err := loadRates(c.currencyRates)
		if err != nil {
			return err
		}
		x.SwapRates(rates)
	}
	// A request never waits for a user agent to be parsed: new ones are parsed in the background.
	uaParser := useragent.NewBackground(0, 0)
	go uaParser.Warm() // compile the regexes before the first user agent arrives, off the request path
	x.SetUserAgents(uaParser)
	ssf, err := newTransmitter(c.ssf, keys.Len() > 0, c.dataDir, ln, reg, log)
	if err != nil {
		return err
	}
	var sink engine.SignalSink
	if ssf != nil {
		defer ssf.Close()
		sink = ssf
	}
	eng, err := engine.New(engine.Config{Extractor: x, Rules: set, Metrics: engine.NewMetrics(reg), FailPolicy: &policy, Log: dlog, Lists: listReg,
		Retention: c.retention, Signals: sink})
	if err != nil {
		return err
	}
	gate := rules.NewGate()
	plane, controlStore, err := openControl(c, eng, listReg, gate, reg, log)
	if err != nil {
		return err
	}
	defer plane.Close()
	srv, err := server.New(server.Config{Engine: eng, Metrics: reg, Logger: log, Keys: keys, RuleGate: gate, Control: plane,
		Auditor: server.NewAuditor(auditOut), SeparateAdmin: adminLn != nil, MaxInflight: c.maxInflight,
		ShedWithFallback: c.shed == "fallback", MaxBodyBytes: c.maxBody, MaxAdminBodyBytes: c.maxAdminBody, Concurrency: c.concurrency,
		KratosIPHeader: c.kratosIPHeader, KratosDeadline: c.kratosDeadline, KratosStepUpTTL: c.kratosStepUpTTL,
		MaxConnsPerClient: connsBound(c.maxConnsPerIP), IdleTimeout: c.idleTimeout,
		DecisionLogDir: c.decisionLog, Lists: listReg, Pprof: c.pprof,
		QueueBudget: c.queueBudget, QueueTarget: c.queueTarget, Signals: ssf})
	if err != nil {
		return err
	}
	if c.shadowRules != "" {
		shadow, err := loadRules(c.shadowRules)
		if err != nil {
			return fmt.Errorf("shadow rules: %w", err)
		}
		eng.SetShadow(shadow)
	}
	if err := startControl(plane, c, listReg, log); err != nil {
		return err
	}
	_, warnings := srv.Readiness()
	for _, w := range warnings {
		log.Warn(w)
	}
	if keys.Len() == 0 {
		log.Warn("no API keys (--keys): serving without authentication, on loopback only")
	}
	warnPlainHTTP(log, ln, c.tlsCert != "", keys.Len() > 0, "--listen", "API keys and decisions")
	if adminLn != nil {
		warnPlainHTTP(log, adminLn, adminCert != "", keys.Len() > 0, "--admin-listen", "admin keys, rule sets and user exports")
	}
	log.Info("riskd serving", "addr", ln.Addr().String(), "admin_addr", addrOf(adminLn), "tls", c.tlsCert != "",
		"admin_tls", adminLn != nil && adminCert != "",
		"version", version(), "rules_version", eng.Rules().Version, "rules_source", eng.Rules().Source, "rules", len(eng.Rules().Rules),
		"api_keys", keys.Len(), "fail_policy", policy.String(), "control_store", controlStore)
	consoleAddr, consoleTLS := ln.Addr().String(), c.tlsCert != ""
	if adminLn != nil {
		consoleAddr, consoleTLS = adminLn.Addr().String(), adminCert != ""
	}
	consoleURL := "http://" + consoleAddr + "/console/"
	if consoleTLS {
		consoleURL = "https://" + consoleAddr + "/console/"
	}
	log.Info("the analysts' console (docs/CONSOLE.md)", "url", consoleURL, "sign_in", keys.Len() > 0)

	errc := make(chan error, 2)
	go func() {
		if c.tlsCert != "" {
			errc <- srv.ServeTLS(ln, c.tlsCert, c.tlsKey)
			return
		}
		errc <- srv.Serve(ln)
	}()
	if adminLn != nil {
		go func() {
			if adminCert != "" {
				errc <- srv.ServeAdminTLS(adminLn, adminCert, adminKey)
				return
			}
			errc <- srv.ServeAdmin(adminLn)
		}()
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	// A changed file reloads what SIGHUP reloads; the reload runs on this goroutine, like SIGHUP's.
	filesChanged := make(chan struct{}, 1)
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go watchFiles(watched, loaded, c.watch, func() {
		select {
		case filesChanged <- struct{}{}:
		default:
		}
	}, stopWatch)
	for {
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			stopRetention()
			return shutdown(srv, db, dlog, st, c, log)
		case <-filesChanged:
			log.Info("files changed on disk: reloading")
			reload(srv, eng, plane, listReg, c, log, "file-change")
		case s := <-sig:
			if s == syscall.SIGHUP {
				reload(srv, eng, plane, listReg, c, log, "SIGHUP")
				continue
			}
			log.Info("shutting down", "signal", s.String())
			stopRetention()
			return shutdown(srv, db, dlog, st, c, log)
		}
	}
}

// listen opens a listener. Without API keys riskd answers anyone who can reach it, so it then refuses any
// address but loopback.
func listen(addr string, haveKeys bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if !haveKeys && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("listen %q: no API keys are configured (--keys), so riskd serves only on a loopback address (127.0.0.1, ::1, localhost)", addr)
	}
	return net.Listen("tcp", addr)
}

// adminTLS is the certificate and key the admin listener serves with: its own (--admin-tls-cert), else the main
// listener's (--tls-cert), since one certificate for the host is the common case; empty for plain HTTP.
func adminTLS(c serveConfig) (cert, key string) {
	if c.adminTLSCert != "" {
		return c.adminTLSCert, c.adminTLSKey
	}
	return c.tlsCert, c.tlsKey
}

// warnPlainHTTP says at start-up that a listener reachable from other hosts carries secrets in clear. It is a
// warning, not a refusal: TLS is often terminated in front of riskd (a sidecar, a mesh).
func warnPlainHTTP(log *slog.Logger, ln net.Listener, tls, keys bool, flag, what string) {
	addr, ok := ln.Addr().(*net.TCPAddr)
	if tls || !keys || !ok || addr.IP.IsLoopback() {
		return
	}
	log.Warn(flag+" serves plain HTTP on a non-loopback address: "+what+" cross the network in clear unless TLS is terminated in front of riskd (--tls-cert, --admin-tls-cert)",
		"addr", addr.String())
}

// connsBound maps --max-conns-per-ip (0 = no bound) to server.Config.MaxConnsPerClient (0 = the default).
func connsBound(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

func openGeo(c serveConfig) (*geo.DB, error) {
	return geo.Open(geo.Config{CityPath: c.geoCity, ASNPath: c.geoASN, AnonymousPath: c.geoAnonymous})
}

// shutdown drains (readiness goes 503 first, so load balancers move away), waits for in-flight requests, then
// persists state and flushes the decision log.
func shutdown(srv *server.Server, db *geo.DB, dlog *decisionlog.Log, st store.State, c serveConfig, log *slog.Logger) error {
	srv.Drain()
	time.Sleep(c.drainDelay)
	ctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	db.Close()
	stErr := st.Close()
	if dlog != nil {
		if lerr := dlog.Close(); lerr != nil {
			log.Error("decision log close", "error", lerr.Error())
		}
		st := dlog.Stats()
		log.Info("decision log closed", "written", st.Written, "dropped", st.Dropped)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown: %w", err)
	}
	if stErr != nil {
		return fmt.Errorf("state: %w", stErr)
	}
	log.Info("stopped")
	return nil
}

// reloadGateWait is how long a reload waits for rule work of the admin API to finish before it is refused.
const reloadGateWait = time.Minute

// reload re-reads what can change without a restart: the rule and list files (each one changed since it was
// last imported becomes a new version of its document in the control plane; an unchanged one is left alone,
// so a reload never reverts a change made through the API), the GeoIP databases and the keyring. Each is built
// off the request path and swapped atomically; one that fails to load is refused, logged and audited, and the
// live one keeps serving.
// who names the trigger in the audit log: "SIGHUP" or "file-change".
func reload(srv *server.Server, eng *engine.Engine, plane *control.Plane, listReg *lists.Registry, c serveConfig, log *slog.Logger, who string) {
	audit := func(action, result, detail string) {
		srv.Audit(server.AuditRecord{Who: who, Action: action, Result: result, Detail: detail})
	}
	ctx, cancel := context.WithTimeout(context.Background(), reloadGateWait)
	defer cancel()
	why := "changed on disk (" + who + ")"
	for _, d := range []struct {
		action, what string
		seed         func() (*control.Version, error)
	}{
		{"rules.reload", "rules", func() (*control.Version, error) { return seedRules(ctx, plane, control.Rules, c.rules, why) }},
		{"rules.shadow.reload", "shadow rules", func() (*control.Version, error) {
			return seedRules(ctx, plane, control.Shadow, c.shadowRules, why)
		}},
		{"lists.reload", "lists", func() (*control.Version, error) { return seedLists(ctx, plane, c.lists, listReg, why) }},
	} {
		v, err := d.seed()
		switch {
		case err != nil:
			log.Error(d.what+" reload refused; the live version keeps serving", "error", err.Error())
			audit(d.action, "refused", err.Error())
		case v != nil:
			log.Info(d.what+" reloaded: a changed file is a new version", "version", v.Number, "label", v.Label, "author", v.Author)
			audit(d.action, "ok", fmt.Sprintf("version %d (%s)", v.Number, v.Label))
		}
	}
	if db, err := openGeo(c); err != nil {
		log.Error("GeoIP reload refused; the live databases keep serving", "error", err.Error())
		audit("geoip.reload", "refused", err.Error())
	} else {
		// Close is safe while lookups that started on the old databases finish.
		eng.Extractor().SwapGeo(db).Close()
		log.Info("GeoIP databases reloaded")
		audit("geoip.reload", "ok", "")
		plane.Retry() // a version whose tests failed over the old databases may pass over the new ones
	}
	if c.currencyRates != "" {
		if rates, err := loadRates(c.currencyRates); err != nil {
			log.Error("currency rates reload refused; the live table keeps serving", "error", err.Error())
			audit("currency_rates.reload", "refused", err.Error())
		} else {
			eng.Extractor().SwapRates(rates)
			log.Info("currency rates reloaded", "base", rates.Base, "currencies", rates.Count, "date", rates.Date.Format(time.DateOnly))
			audit("currency_rates.reload", "ok", fmt.Sprintf("%d currencies into %s", rates.Count, rates.Base))
		}
	}
	if c.keys != "" {
		keys, err := server.LoadKeyring(c.keys)
		if err == nil {
			err = srv.SetKeys(keys)
		}
		if err != nil {
			log.Error("keyring reload refused; the live keys stay", "error", err.Error())
			audit("keys.reload", "refused", err.Error())
		} else {
			log.Info("keyring reloaded", "keys", keys.Len())
			audit("keys.reload", "ok", fmt.Sprintf("%d keys", keys.Len()))
		}
	}
}

// loadRates reads a currency rates file (package money's format).
func loadRates(path string) (*money.Rates, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("currency-rates: %w", err)
	}
	return money.Parse(b, path)
}
