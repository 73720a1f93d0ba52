package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/VictoriaMetrics/metrics"

	"github.com/riskd/riskd/signals"
)

// ssfConfig is the Shared Signals transmitter's part of serve's configuration.
type ssfConfig struct {
	mode          string // auto, on, off
	issuer        string
	keyFile       string
	oldKeyFile    string
	subjectIssuer string

	webhookURL        string
	webhookSecretFile string
	webhookTriggers   string
}

func ssfFlags(fs *flag.FlagSet, c *ssfConfig) {
	fs.StringVar(&c.mode, "ssf", "auto", "Shared Signals transmitter: on, off, or auto (on without API keys, in development mode, or when --ssf-issuer or --ssf-key-file is given)")
	fs.StringVar(&c.issuer, "ssf-issuer", "", "issuer (iss) of the security events and base URL of the SSF endpoints, e.g. https://riskd.example.com; required with API keys (default in development mode: http://<listen address>)")
	fs.StringVar(&c.keyFile, "ssf-key-file", "", "PEM private key that signs security events: EC P-256 (ES256) or RSA (RS256); required with API keys (default in development mode: a key that lives as long as the process)")
	fs.StringVar(&c.oldKeyFile, "ssf-old-key-file", "", "PEM key published in the JWKS beside --ssf-key-file after a rotation, so that receivers still verify events it signed")
	fs.StringVar(&c.webhookURL, "webhook-url", "", "POST a signed JSON webhook here (https, or http to loopback) for decisions and outcomes matching --webhook-triggers; needs the transmitter on")
	fs.StringVar(&c.webhookSecretFile, "webhook-secret-file", "", "file holding the webhook's HMAC-SHA256 secret (at least 16 bytes; surrounding whitespace is trimmed)")
	fs.StringVar(&c.webhookTriggers, "webhook-triggers", "decision:deny,outcome:fraud_confirmed", "comma-separated triggers: decision:deny, decision:step_up, rule:ID, outcome:TYPE")
	fs.StringVar(&c.subjectIssuer, "ssf-subject-issuer", "", "when set, events name the user as an iss_sub subject with this iss (your identity provider's issuer); default an opaque subject")
}

// newTransmitter returns the transmitter serve runs, or nil when it is off. Without API keys (development
// mode, loopback only) it runs with the listener's address as issuer and an ephemeral key unless told
// otherwise; with keys it needs its issuer and key file once enabled.
func newTransmitter(c ssfConfig, haveKeys bool, dataDir string, ln net.Listener, reg *metrics.Set, log *slog.Logger) (*signals.Transmitter, error) {
	switch c.mode {
	case "off":
		if c.webhookURL != "" {
			return nil, errors.New("webhook-url: webhooks are sent by the transmitter, which --ssf=off turns off")
		}
		return nil, nil
	case "auto":
		if haveKeys && c.issuer == "" && c.keyFile == "" && c.webhookURL == "" {
			return nil, nil
		}
	case "on":
	default:
		return nil, fmt.Errorf("ssf %q: want auto, on or off", c.mode)
	}
	if haveKeys && (c.issuer == "" || c.keyFile == "") {
		return nil, errors.New("ssf: with API keys the Shared Signals transmitter needs --ssf-issuer and --ssf-key-file (or --ssf=off)")
	}
	issuer := c.issuer
	if issuer == "" {
		issuer = "http://" + ln.Addr().String()
	} else if u, err := url.Parse(issuer); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("ssf-issuer %q: want an absolute http(s) URL", issuer)
	}
	var key *signals.Key
	var err error
	if c.keyFile != "" {
		key, err = signals.LoadKey(c.keyFile)
	} else {
		key, err = signals.EphemeralKey()
		log.Warn("ssf: signing security events with a key that lives as long as the process (development mode; give --ssf-key-file)")
	}
	if err != nil {
		return nil, fmt.Errorf("ssf-key-file: %w", err)
	}
	var old []*signals.Key
	if c.oldKeyFile != "" {
		k, err := signals.LoadKey(c.oldKeyFile)
		if err != nil {
			return nil, fmt.Errorf("ssf-old-key-file: %w", err)
		}
		old = append(old, k)
	}
	var hooks []signals.Webhook
	if c.webhookURL != "" {
		if c.webhookSecretFile == "" {
			return nil, errors.New("webhook-url needs --webhook-secret-file")
		}
		secret, err := os.ReadFile(c.webhookSecretFile)
		if err != nil {
			return nil, fmt.Errorf("webhook-secret-file: %w", err)
		}
		hooks = append(hooks, signals.Webhook{URL: c.webhookURL, Secret: bytes.TrimSpace(secret), Triggers: strings.Split(c.webhookTriggers, ",")})
	}
	t, err := signals.New(signals.Config{Issuer: issuer, Key: key, OldKeys: old, SubjectIssuer: c.subjectIssuer, Webhooks: hooks,
		DataDir: dataDir, Metrics: reg, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("ssf transmitter on", "issuer", issuer, "kid", key.ID, "alg", string(key.Alg))
	return t, nil
}
