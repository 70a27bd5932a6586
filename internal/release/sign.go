package release

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"sigs.k8s.io/yaml"
)

// LoadSigningKey reads an OpenPGP secret key (`gpg --export-secret-keys
// [--armor] KEYID`, armored or binary) and decrypts it with the passphrase
// in passphraseFile when it is protected.
func LoadSigningKey(keyFile, passphraseFile string) (*openpgp.Entity, error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		ring, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: not an OpenPGP key: %w", keyFile, err)
	}
	for _, e := range ring {
		if e.PrivateKey != nil {
			return e, decrypt(e, keyFile, passphraseFile)
		}
	}
	return nil, fmt.Errorf("%s holds no secret key (export it with gpg --export-secret-keys)", keyFile)
}

func decrypt(e *openpgp.Entity, keyFile, passphraseFile string) error {
	if !e.PrivateKey.Encrypted {
		return nil
	}
	if passphraseFile == "" {
		return fmt.Errorf("the key in %s is protected by a passphrase: set HARBORHA_SIGN_PASSPHRASE_FILE", keyFile)
	}
	pass, err := os.ReadFile(passphraseFile)
	if err != nil {
		return err
	}
	if err := e.DecryptPrivateKeys(bytes.TrimRight(pass, "\r\n")); err != nil {
		return fmt.Errorf("cannot unlock the key in %s with the passphrase in %s: %w", keyFile, passphraseFile, err)
	}
	return nil
}

// Provenance is the .prov Helm 4 verifies a plugin archive with (Helm's
// provenance format): a clear-signed message of the plugin's metadata,
// "...", and the archive's sha256 under its file name. Signatures are not
// reproducible (go-crypto salts them, which guards EdDSA keys against
// fault attacks); the archives they sign are.
func Provenance(key *openpgp.Entity, archive []byte, name string, metadata []byte) ([]byte, error) {
	if strings.Contains(string(metadata), "\n...\n") {
		return nil, errors.New("plugin metadata holds a YAML document end marker")
	}
	sums, err := yaml.Marshal(map[string]map[string]string{"files": {name: "sha256:" + SHA256(archive)}})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w, err := clearsign.Encode(&out, key.PrivateKey, &packet.Config{DefaultHash: crypto.SHA512})
	if err != nil {
		return nil, err
	}
	msg := append(bytes.TrimRight(metadata, "\n"), "\n...\n"...)
	if _, err := w.Write(append(msg, sums...)); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// ReleaseKeyName is the public half of the signing key, published with the
// release files for users' keyrings (check its fingerprint first).
const ReleaseKeyName = "harborha-release-key.asc"

// ArmoredPublicKey is key's public part, ASCII-armored.
func ArmoredPublicKey(key *openpgp.Entity) ([]byte, error) {
	var out bytes.Buffer
	w, err := armor.Encode(&out, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := key.Serialize(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
