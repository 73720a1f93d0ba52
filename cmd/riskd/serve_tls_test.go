package main

import (
	"io"
	"strings"
	"testing"
)

// TestAdminListenerTLSFlags: the admin listener serves with its own certificate, else with --tls-cert's; a
// certificate without its key is refused at start-up.
func TestAdminListenerTLSFlags(t *testing.T) {
	c := serveConfig{tlsCert: "main.pem", tlsKey: "main.key"}
	if cert, key := adminTLS(c); cert != "main.pem" || key != "main.key" {
		t.Fatalf("default: %s %s, want --tls-cert's", cert, key)
	}
	c.adminTLSCert, c.adminTLSKey = "admin.pem", "admin.key"
	if cert, key := adminTLS(c); cert != "admin.pem" || key != "admin.key" {
		t.Fatalf("own: %s %s", cert, key)
	}
	if cert, _ := adminTLS(serveConfig{}); cert != "" {
		t.Fatalf("without TLS flags: %q", cert)
	}
	err := serve(t.Context(), []string{"--admin-tls-cert", "admin.pem"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--admin-tls-key") {
		t.Fatalf("a certificate without its key: %v", err)
	}
}
