package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

func TestTransmitterModes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(ec)
	keyFile := filepath.Join(t.TempDir(), "ssf.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}

	// Development mode: on by default, the listener as issuer, an ephemeral key.
	tx, err := newTransmitter(ssfConfig{mode: "auto"}, false, "", ln, metrics.NewSet(), log)
	if err != nil || tx == nil || tx.Issuer() != "http://"+ln.Addr().String() {
		t.Fatalf("development mode: %v %v", tx, err)
	}
	tx.Close()
	// With API keys: off unless asked for, and then only with an issuer and a key file.
	if tx, err := newTransmitter(ssfConfig{mode: "auto"}, true, "", ln, metrics.NewSet(), log); tx != nil || err != nil {
		t.Fatalf("auto with keys: %v %v", tx, err)
	}
	for _, c := range []ssfConfig{{mode: "on"}, {mode: "auto", issuer: "https://riskd.example"}, {mode: "on", keyFile: keyFile}} {
		if _, err := newTransmitter(c, true, "", ln, metrics.NewSet(), log); err == nil || !strings.Contains(err.Error(), "--ssf-issuer and --ssf-key-file") {
			t.Fatalf("%+v with keys: %v, want refused", c, err)
		}
	}
	tx, err = newTransmitter(ssfConfig{mode: "on", issuer: "https://riskd.example", keyFile: keyFile}, true, "", ln, metrics.NewSet(), log)
	if err != nil || tx.Issuer() != "https://riskd.example" {
		t.Fatalf("production: %v", err)
	}
	tx.Close()
	if tx, err := newTransmitter(ssfConfig{mode: "off"}, false, "", ln, metrics.NewSet(), log); tx != nil || err != nil {
		t.Fatalf("off: %v %v", tx, err)
	}
	if _, err := newTransmitter(ssfConfig{mode: "on", webhookURL: "https://hooks.example/x"}, false, "", ln, metrics.NewSet(), log); err == nil {
		t.Fatal("a webhook without a secret was accepted")
	}
	if _, err := newTransmitter(ssfConfig{mode: "maybe"}, false, "", ln, metrics.NewSet(), log); err == nil {
		t.Fatal("--ssf=maybe was accepted")
	}
}
