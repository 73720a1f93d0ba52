package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// HashKeyFile is where, with --data-dir and no hash key given, riskd keeps the hash key it generated: state keyed
// by a key that changes at every restart would be unreachable.
const HashKeyFile = "hash.key"

// MinHashKey is the shortest hash key accepted, in bytes. The key is all that stands between the hashed
// identifiers (in the data dir, Redis, backups, the decision and audit logs) and a dictionary of user ids,
// e-mail addresses or IPv4 addresses: a short or guessable key lets anyone holding a copy of the state test
// candidates offline. A key from `openssl rand -hex 32` (64 characters) is what riskd generates itself.
const MinHashKey = 32

// hashKeyEnv is the environment variable that carries the hash key (envName("hash-key")).
const hashKeyEnv = "RISKD_HASH_KEY"

// errHashKeyOnCommandLine: a secret on the command line is readable by every user of the machine (ps,
// /proc/PID/cmdline) and lands in shell histories and process listings of monitoring tools.
var errHashKeyOnCommandLine = errors.New("--hash-key may not be given on the command line, where every user of the machine can read it (ps, /proc): " +
	"put the key in a file readable only by riskd and pass --hash-key-file FILE, or set the environment variable " + hashKeyEnv)

// refuseSecretArguments refuses a hash key given as a command-line argument; the same flag from the environment
// or the config file is fine. Call it after fs.Parse and before applyLayers, which marks those as set too.
func refuseSecretArguments(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "hash-key" {
			err = errHashKeyOnCommandLine
		}
	})
	return err
}

// hashKey returns the secret keying state keys. It must be the same across restarts (with a data dir) and across
// instances (with Redis), so: the key given (--hash-key-file, or RISKD_HASH_KEY / the config file's hash-key);
// else, with --redis, an error, since instances cannot agree on a key none was given; else, with --data-dir,
// the key kept in the data dir (generated once); else a random key for this process only.
func hashKey(c serveConfig, log *slog.Logger) ([]byte, error) {
	switch {
	case c.hashKey != "" && c.hashKeyFile != "":
		return nil, errors.New("hash key given twice: --hash-key-file and " + hashKeyEnv + " (or the config file's hash-key); give one")
	case c.hashKeyFile != "":
		key, err := readHashKeyFile(c.hashKeyFile, log)
		if err != nil {
			return nil, err
		}
		if c.dataDir != "" {
			warnDataDirCopy(c.dataDir, key, log)
		}
		return key, nil
	case c.hashKey != "":
		return checkHashKey([]byte(c.hashKey), hashKeyEnv+" (or the config file's hash-key)")
	case c.redis != "":
		return nil, errors.New("--redis needs a hash key (--hash-key-file FILE or " + hashKeyEnv + "): every instance sharing Redis must key identifiers with the same secret")
	case c.dataDir != "":
		return dataDirKey(c.dataDir, log)
	}
	key := make([]byte, 32)
	rand.Read(key)
	log.Info("no hash key given: identifiers are keyed with a random per-process secret")
	return key, nil
}

// checkHashKey refuses a key shorter than MinHashKey; source names where it came from, for the error.
func checkHashKey(key []byte, source string) ([]byte, error) {
	if len(key) < MinHashKey {
		return nil, fmt.Errorf("hash key from %s is %d bytes, want at least %d (make one with: openssl rand -hex 32)", source, len(key), MinHashKey)
	}
	return key, nil
}

// readHashKeyFile reads a key file: its content less surrounding white space (a trailing newline is usual).
func readHashKeyFile(path string, log *slog.Logger) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hash key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the hash key file is readable by other users than its owner; chmod 600 it", "path", path, "mode", fi.Mode().Perm().String())
	}
	return checkHashKey(bytes.TrimSpace(b), path)
}

// dataDirKey reads the key kept in dir, creating it (0600) the first time. Data dirs made before
// --hash-key-file existed keep working this way; a key kept apart from the data (and from its backups) is
// better, and start-up says so.
func dataDirKey(dir string, log *slog.Logger) ([]byte, error) {
	path := filepath.Join(dir, HashKeyFile)
	if _, err := os.Stat(path); err == nil {
		key, err := readHashKeyFile(path, log)
		if err != nil {
			return nil, err
		}
		log.Warn("the hash key is kept in the data dir, so every backup of the dir carries it with the hashed identifiers; "+
			"move it out: riskd --hash-key-file FILE (outside the data dir), then delete the copy", "path", path)
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
	log.Warn("generated a hash key and kept it in the data dir; every backup of the dir will carry it with the hashed identifiers: "+
		"move it out (riskd --hash-key-file FILE, outside the data dir) and keep a copy apart from the backups", "path", path)
	return key, nil
}

// warnDataDirCopy says when the data dir still holds a copy of the key given by file: the copy undoes keeping
// the key apart from the data's backups. A different key there is not an error here: the key check refuses a
// data dir written under another key.
func warnDataDirCopy(dir string, key []byte, log *slog.Logger) {
	path := filepath.Join(dir, HashKeyFile)
	if old, err := os.ReadFile(path); err == nil && hmac.Equal(bytes.TrimSpace(old), key) {
		log.Warn("the data dir still holds a copy of the hash key given by --hash-key-file; delete it so that backups of the dir do not carry the key", "path", path)
	}
}

// keyCheck is the fingerprint of a hash key that stores keep to refuse state written under another key. It is an
// HMAC of a constant: it identifies the key without revealing it.
func keyCheck(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("riskd state key check v1"))
	return m.Sum(nil)[:16]
}
