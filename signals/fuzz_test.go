package signals

import (
	"strings"
	"testing"
	"time"
)

// FuzzVerifyWebhook: whatever the header and body, VerifyWebhook does not panic, and accepts only what
// SignWebhook signed with the secret within the tolerance.
func FuzzVerifyWebhook(f *testing.F) {
	secret := []byte("fuzz-secret-of-16+bytes")
	now := time.Unix(1_800_000_000, 0)
	f.Add(SignWebhook(secret, now.Unix(), []byte(`{"id":"x"}`)), []byte(`{"id":"x"}`))
	f.Add("t=,v1=", []byte{})
	f.Add("t=1800000000,v1=zz,v1=00", []byte("a"))
	f.Add("t=-1,t=99999999999999999999,v1", []byte("a"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := VerifyWebhook(secret, header, body, now, 5*time.Minute)
		if err != nil {
			return
		}
		// Accepted: some v1 in the header must be the signature of body at a timestamp within tolerance.
		for ts := now.Unix() - 300; ts <= now.Unix()+300; ts++ {
			if VerifyWebhook(secret, SignWebhook(secret, ts, body), body, now, 5*time.Minute) == nil && containsMAC(header, SignWebhook(secret, ts, body)) {
				return
			}
		}
		t.Fatalf("accepted %q over %q", header, body)
	})
}

func containsMAC(header, signed string) bool {
	mac := signed[len(signed)-64:]
	for i := 0; i+64 <= len(header); i++ {
		if strings.EqualFold(header[i:i+64], mac) { // hex may be upper case
			return true
		}
	}
	return false
}
