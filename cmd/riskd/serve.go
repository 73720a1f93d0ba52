package main

import (
	"context"
	"crypto/rand"
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

	"github.com/riskd/riskd/engine"
	"github.com/riskd/riskd/features"
	"github.com/riskd/riskd/features/geo"
	"github.com/riskd/riskd/server"
)

type serveConfig struct {
	listen          string
	config          string
	geoCity         string
	geoASN          string
	geoAnonymous    string
	rules           string
	hashKey         string
	maxBody         int
	concurrency     int
	velocityKeys    int
	drainDelay      time.Duration
	shutdownTimeout time.Duration
	logLevel        string
}

func serveFlags(c *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to serve on")
	fs.StringVar(&c.config, "config", "", "YAML config file; keys are these flags' names")
	fs.StringVar(&c.geoCity, "geoip-city", "", "GeoIP2/GeoLite2 City mmdb file")
	fs.StringVar(&c.geoASN, "geoip-asn", "", "GeoLite2 ASN mmdb file")
	fs.StringVar(&c.geoAnonymous, "geoip-anonymous", "", "GeoIP2 Anonymous-IP mmdb file")
	fs.StringVar(&c.rules, "rules", "", "rule file (default: the built-in rule set); SIGHUP reloads it")
	fs.StringVar(&c.hashKey, "hash-key", "", "secret that keys the hashes of user, device and IP identifiers (default: random per process)")
	fs.IntVar(&c.maxBody, "max-body", 16<<10, "largest request body, bytes")
	fs.IntVar(&c.concurrency, "concurrency", 4096, "requests served at once")
	fs.IntVar(&c.velocityKeys, "velocity-keys", 1<<20, "keys held per velocity table (users, IPs, devices)")
	fs.DurationVar(&c.drainDelay, "drain-delay", 0, "on SIGTERM, how long /readyz answers 503 before the listener closes")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight requests get to finish on shutdown")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	return fs
}

// serve runs the HTTP API until ctx ends or SIGINT/SIGTERM arrives, then drains and stops.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	var c serveConfig
	fs := serveFlags(&c)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
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

	ln, err := listen(c.listen)
	if err != nil {
		return err
	}
	defer ln.Close()

	db, err := geo.Open(geo.Config{CityPath: c.geoCity, ASNPath: c.geoASN, AnonymousPath: c.geoAnonymous})
	if err != nil {
		return err
	}
	set, err := loadRules(c.rules)
	if err != nil {
		return err
	}
	key := []byte(c.hashKey)
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key)
		log.Info("no --hash-key: identifiers are keyed with a random per-process secret")
	}
	reg := metrics.NewSet()
	x := features.NewExtractor(features.NewHasher(key), features.NewState(c.velocityKeys), db)
	eng, err := engine.New(engine.Config{Extractor: x, Rules: set, Metrics: engine.NewMetrics(reg)})
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{Engine: eng, Metrics: reg, Logger: log,
		MaxBodyBytes: c.maxBody, Concurrency: c.concurrency})
	if err != nil {
		return err
	}
	_, warnings := srv.Readiness()
	for _, w := range warnings {
		log.Warn(w)
	}
	log.Info("riskd serving", "addr", ln.Addr().String(), "version", version(),
		"rules_version", set.Version, "rules_source", set.Source, "rules", len(set.Rules))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	for {
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			return shutdown(srv, db, c, log)
		case s := <-sig:
			if s == syscall.SIGHUP {
				reloadRules(eng, c.rules, log)
				continue
			}
			log.Info("shutting down", "signal", s.String())
			return shutdown(srv, db, c, log)
		}
	}
}

// listen opens the listener. Without API keys (not configurable yet) riskd answers anyone who can reach it,
// so it refuses any address but loopback.
func listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("listen %q: riskd has no API keys configured, so it serves only on a loopback address (127.0.0.1, ::1, localhost)", addr)
	}
	return net.Listen("tcp", addr)
}

// shutdown drains (readiness goes 503 first, so load balancers move away), then waits for in-flight requests.
func shutdown(srv *server.Server, db *geo.DB, c serveConfig, log *slog.Logger) error {
	srv.Drain()
	time.Sleep(c.drainDelay)
	ctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	db.Close()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// reloadRules recompiles the rule file and swaps it in; a set that does not compile is refused and the live
// one keeps serving.
func reloadRules(eng *engine.Engine, path string, log *slog.Logger) {
	set, err := loadRules(path)
	if err != nil {
		log.Error("rules reload refused; the live rule set keeps serving", "error", err.Error())
		return
	}
	old := eng.SwapRules(set)
	log.Info("rules reloaded", "version", set.Version, "previous", old.Version, "rules", len(set.Rules))
}
