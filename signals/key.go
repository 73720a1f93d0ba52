package signals

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/go-jose/go-jose/v4"
)

// ErrKey is returned for a signing key riskd cannot use.
var ErrKey = errors.New("signals: signing key")

// Key is a signing key with its JWS algorithm (ES256 for P-256, RS256 for RSA) and key id (the RFC 7638
// thumbprint, so that the same key keeps its kid across restarts and rotation needs no bookkeeping).
type Key struct {
	Signer crypto.Signer
	Alg    jose.SignatureAlgorithm
	ID     string
}

// LoadKey reads a PEM private key: EC P-256 (SEC 1 or PKCS #8) or RSA of at least 2048 bits (PKCS #1 or #8).
func LoadKey(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return ParseKey(data)
}

// ParseKey reads a PEM private key; see LoadKey.
func ParseKey(data []byte) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrKey)
	}
	var priv any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		priv, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		priv, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: PEM block %q, want an EC or RSA private key", ErrKey, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return newKey(priv)
}

func newKey(priv any) (*Key, error) {
	k := &Key{}
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: EC keys must be on P-256 (ES256)", ErrKey)
		}
		k.Signer, k.Alg = p, jose.ES256
	case *rsa.PrivateKey:
		if p.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA keys must have at least 2048 bits", ErrKey)
		}
		k.Signer, k.Alg = p, jose.RS256
	default:
		return nil, fmt.Errorf("%w: %T is neither an EC nor an RSA key", ErrKey, priv)
	}
	jwk := jose.JSONWebKey{Key: k.Signer.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	k.ID = base64.RawURLEncoding.EncodeToString(tp)
	return k, nil
}

// EphemeralKey returns a new P-256 key that lives as long as the process: development mode only, since
// receivers' cached JWKS no longer verify after a restart.
func EphemeralKey() (*Key, error) {
	p, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return newKey(p)
}

// jwk is k's public half as a JWK.
func (k *Key) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Signer.Public(), KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"}
}
