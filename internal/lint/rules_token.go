package lint

import (
	"encoding/pem"
	"slices"

	"github.com/harborha/helm-harborha/internal/harbor"
)

// tokenKeyPath is where core reads its token service's private key (the
// chart mounts the Secret's tls.key there, chart 1.14-1.19).
const tokenKeyPath = "/etc/core/private_key.pem"

// tokenKeyTypes are the PEM blocks Harbor's token service can read: it
// parses the key with docker/libtrust's UnmarshalPrivateKeyPEM
// (goharbor/harbor@v2.15.1 src/core/service/token/authutils.go L142),
// which knows PKCS#1 RSA and SEC1 EC keys only. Any other block, PKCS#8's
// "PRIVATE KEY" (what OpenSSL 3 writes by default) among them, fails every
// token request: `docker login` and every push and pull get HTTP 500, core
// logs "unable to get PrivateKey from PEM type: PRIVATE KEY".
var tokenKeyTypes = []string{"RSA PRIVATE KEY", "EC PRIVATE KEY"}

// HA017: core's token key, when its Secret is in the stream (the chart's
// own, holding core.tokenKey or the key it generated), is one Harbor can
// read. A Secret outside the stream (core.secretName) is doctor's to see.
func checkTokenKey(c *checker) {
	sources := harbor.ReadSources(c.docs)
	for _, w := range c.model.Components() {
		if w.Component != "core" {
			continue
		}
		secret, key := tokenKeySecret(w)
		src := sources.Get("Secret", w.Namespace(), secret)
		if src == nil {
			continue
		}
		block, _ := pem.Decode([]byte(src.Data[key]))
		switch {
		case block == nil:
			c.report(src.Doc, "Secret %s key %s, core's token service key (%s), holds no PEM block: Harbor cannot sign registry tokens, so every login, push and pull fails", secret, key, tokenKeyPath)
		case !slices.Contains(tokenKeyTypes, block.Type):
			c.report(src.Doc, "Secret %s key %s, core's token service key, is a %q PEM block: Harbor reads only %q (PKCS#1) or %q keys, so every login, push and pull fails with HTTP 500 (core: \"unable to get PrivateKey from PEM type: %s\")",
				secret, key, block.Type, tokenKeyTypes[0], tokenKeyTypes[1], block.Type)
		}
	}
}

// tokenKeySecret is the Secret and key mounted at tokenKeyPath in core's
// container ("" when none is).
func tokenKeySecret(w *harbor.Workload) (secret, key string) {
	for _, c := range w.Containers() {
		for _, m := range c.VolumeMounts {
			if m.MountPath != tokenKeyPath {
				continue
			}
			if v := w.Volume(m.Name); v != nil && v.Secret != nil {
				return v.Secret.SecretName, m.SubPath
			}
		}
	}
	return "", ""
}
