package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// RedisPasswordEnv names the environment variable that may hold the Redis password. It is read directly, not
// through a flag: every flag can also be given on the command line, where any local user reads it in
// /proc/PID/cmdline and ps, and in the config file, which is rarely kept as a secret. So there is no
// --redis-password: the password comes from --redis-password-file or from this variable, nowhere else.
const RedisPasswordEnv = "RISKD_REDIS_PASSWORD"

// redisAccess is how riskd authenticates to Redis and secures the connection.
type redisAccess struct {
	user, password string
	tls            *tls.Config // nil: plain TCP
}

// redisAccessOf reads the Redis credentials and TLS settings the flags name: the password from
// --redis-password-file or RISKD_REDIS_PASSWORD (not both), TLS when --redis-tls or any of --redis-ca,
// --redis-cert, --redis-key is given (a CA file without TLS would otherwise be silently ignored).
func redisAccessOf(c serveConfig, log *slog.Logger) (redisAccess, error) {
	a := redisAccess{user: c.redisUser}
	env, fromEnv := os.LookupEnv(RedisPasswordEnv)
	switch {
	case c.redisPasswordFile != "" && fromEnv:
		return a, fmt.Errorf("--redis-password-file and %s both give the Redis password: keep one", RedisPasswordEnv)
	case c.redisPasswordFile != "":
		st, err := os.Stat(c.redisPasswordFile)
		if err != nil {
			return a, fmt.Errorf("redis password file: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			log.Warn("the redis password file is readable by other users; make it 0600 (or 0400)", "path", c.redisPasswordFile,
				"mode", st.Mode().Perm().String())
		}
		b, err := os.ReadFile(c.redisPasswordFile)
		if err != nil {
			return a, fmt.Errorf("redis password file: %w", err)
		}
		if a.password = strings.TrimRight(string(b), "\r\n"); a.password == "" {
			return a, fmt.Errorf("redis password file %s is empty", c.redisPasswordFile)
		}
	case fromEnv:
		if a.password = env; a.password == "" {
			return a, fmt.Errorf("%s is set but empty", RedisPasswordEnv)
		}
	}
	if c.redisUser != "" && a.password == "" {
		return a, fmt.Errorf("--redis-user needs a password: --redis-password-file or %s", RedisPasswordEnv)
	}
	if !c.redisTLS && c.redisCA == "" && c.redisCert == "" && c.redisKey == "" {
		return a, nil
	}
	if (c.redisCert == "") != (c.redisKey == "") {
		return a, errors.New("--redis-cert and --redis-key go together")
	}
	a.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	if c.redisCA != "" {
		pem, err := os.ReadFile(c.redisCA)
		if err != nil {
			return a, fmt.Errorf("redis CA: %w", err)
		}
		a.tls.RootCAs = x509.NewCertPool()
		if !a.tls.RootCAs.AppendCertsFromPEM(pem) {
			return a, fmt.Errorf("redis CA %s holds no PEM certificate", c.redisCA)
		}
	}
	if c.redisCert != "" {
		cert, err := tls.LoadX509KeyPair(c.redisCert, c.redisKey)
		if err != nil {
			return a, fmt.Errorf("redis client certificate: %w", err)
		}
		a.tls.Certificates = []tls.Certificate{cert}
	}
	return a, nil
}
