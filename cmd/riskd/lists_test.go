package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestListFilesAndReload serves with a list directory, denies a listed address, and picks up a list file
// changed on disk at SIGHUP.
func TestListFilesAndReload(t *testing.T) {
	dir := t.TempDir()
	listDir := filepath.Join(dir, "lists")
	os.Mkdir(listDir, 0o700)
	os.WriteFile(filepath.Join(listDir, "blocklist.ip.txt"), []byte("# feed\n216.160.83.56\t4\n"), 0o600)
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte("version: l\nthresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: blocked, when: 'in_list(\"blocklist\")', action: deny}\n"), 0o600)
	p := startProcess(t, "--rules", rulesPath, "--lists", listDir)
	decide := func(ip string) string {
		t.Helper()
		status, body, err := p.decideBody(`{"type":"login","user_id":"u","ip":"` + ip + `"}`)
		if err != nil || status != 200 {
			t.Fatalf("decide: %d %v", status, err)
		}
		return body["decision"].(string)
	}
	if d := decide("216.160.83.56"); d != "deny" {
		t.Fatalf("listed address: %s", d)
	}
	if d := decide("89.160.20.112"); d != "allow" {
		t.Fatalf("unlisted address: %s", d)
	}
	os.WriteFile(filepath.Join(listDir, "blocklist.ip.txt"), []byte("89.160.20.0/24\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for decide("89.160.20.112") != "deny" {
		if time.Now().After(deadline) {
			t.Fatal("the reloaded list was not applied")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := decide("216.160.83.56"); d != "allow" {
		t.Fatalf("an address gone from the file: %s", d)
	}
	p.stop(t)
}

// TestReloadOnFileChange: a rule file replaced on disk is picked up without a signal.
func TestReloadOnFileChange(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	write := func(version string) {
		tmp := rulesPath + ".tmp"
		os.WriteFile(tmp, []byte("version: "+version+"\nthresholds: {step_up: 40, deny: 80}\nrules:\n  - {id: tor, when: is_tor, score: 60}\n"), 0o600)
		os.Rename(tmp, rulesPath) // replaced the way deploy tools do
	}
	write("w1")
	p := startProcess(t, "--rules", rulesPath, "--watch", "100ms")
	write("w2-longer")
	deadline := time.Now().Add(5 * time.Second)
	for p.rulesVersion(t) != "w2-longer" {
		if time.Now().After(deadline) {
			t.Fatalf("the changed rule file was not reloaded:\n%s", p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop(t)
}
