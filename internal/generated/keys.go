package generated

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The values the chart would generate on every render, generated once
// here the way the chart does (templates/core/core-secret.yaml,
// jobservice-secrets.yaml, registry-secret.yaml, chart 1.14-1.19):
// randAlphaNum for the secrets, genCA for the token service, htpasswd
// (bcrypt) for the registry's credentials.

const alphaNum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomAlphaNum is n letters and digits from crypto/rand, as Sprig's
// randAlphaNum gives (the CSRF key must be exactly 32 of them).
func randomAlphaNum(n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphaNum)))
	for i := range b {
		j, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b[i] = alphaNum[j.Int64()]
	}
	return string(b), nil
}

// tokenValidity: the chart's genCA certificate lives 365 days, but it is
// made anew on every render; ours is kept, so it lives long. No Harbor
// component verifies it (the registry authenticates core by htpasswd);
// core signs tokens with the key.
const tokenValidity = 10 * 365 * 24 * time.Hour

// tokenPair is a new RSA 2048 key (PKCS #1 PEM, as genCA writes it) and a
// self-signed CA certificate "harbor-token-ca" for it.
func tokenPair(now time.Time) (key, cert []byte, err error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	cert, err = tokenCert(priv, now)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)}), cert, nil
}

// tokenCert is genCA's certificate shape for an existing key.
func tokenCert(priv *rsa.PrivateKey, now time.Time) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "harbor-token-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(tokenValidity),
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// parseTokenKey reads core's token service key (PKCS #1 or PKCS #8 PEM,
// as Harbor accepts both).
func parseTokenKey(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an RSA key", k)
	}
	return rk, nil
}

// DefaultRegistryUser is the chart's registry.credentials.username.
const DefaultRegistryUser = "harbor_registry_user"

// htpasswdLine is "user:bcrypt(password)" at bcrypt's default cost, as
// Sprig's htpasswd writes it.
func htpasswdLine(user, password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return user + ":" + string(h), nil
}

// htpasswdUser is the user of an htpasswd line.
func htpasswdUser(line string) string {
	user, _, _ := strings.Cut(strings.TrimSpace(line), ":")
	return user
}
