package main

import (
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/riskd/riskd/server"
)

// newKey makes an API key: a random secret for the client, and the keyring entry (its hash) for riskd.
func newKey(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("key", flag.ContinueOnError)
	name := fs.String("name", "", "who holds the key (shown in the audit log)")
	scopes := fs.String("scopes", "decide", "comma-separated: decide, explain (with decide: ?explain=1), admin, metrics, read (the admin API's reads)")
	tenants := fs.String("tenants", "", "comma-separated tenants the key is limited to (default: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("%w: riskd key --name NAME [--scopes decide,explain,admin] [--tenants a,b]", errUsage)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	secret := "rk_" + base64.RawURLEncoding.EncodeToString(b[:])
	entry := fmt.Sprintf("  - name: %s\n    sha256: %s\n    scopes: [%s]\n", *name, server.HashSecret(secret), list(*scopes))
	if *tenants != "" {
		entry += fmt.Sprintf("    tenants: [%s]\n", list(*tenants))
	}
	// Check the entry the way riskd will read it, so a bad scope or tenant is caught now, not at start-up.
	if _, err := server.ParseKeyring([]byte("keys:\n" + entry)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# Give the secret to %s (Authorization: Bearer <secret>); riskd keeps only its hash.\n", *name)
	fmt.Fprintf(stdout, "# secret: %s\n# Keyring entry (under `keys:` in the --keys file):\n%s", secret, entry)
	return nil
}

func list(csv string) string {
	var out []string
	for item := range strings.SplitSeq(csv, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return strings.Join(out, ", ")
}
