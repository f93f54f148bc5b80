package seatctl

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/seatline/seatline/internal/cli"
)

// Fingerprint names a public key: "sha256:" and the hex SHA-256 of its 32
// raw bytes.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// GenerateKey makes a key pair and returns the private key as PKCS #8 PEM
// and the public key as PKIX PEM (the formats openssl uses:
// openssl pkey -in KEY -pubout gives the same public key).
func GenerateKey() (privPEM, pubPEM []byte, pub ed25519.PublicKey, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, nil, err
	}
	px, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: px}), pub, nil
}

// keyBytes reads the key file of flag: PEM, or raw bytes, or one line of
// base64 or hex. It returns the PEM block if there is one, else the
// decoded bytes.
func keyBytes(flag, path string) (*pem.Block, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &cli.ConfigError{Err: fmt.Errorf("%s: cannot read the key file: %w", flag, err)}
	}
	if block, _ := pem.Decode(data); block != nil {
		return block, nil, nil
	}
	// Text first: a binary key made only of hex or base64 characters is
	// vanishingly unlikely.
	text := strings.TrimSpace(string(data))
	if b, err := hex.DecodeString(text); err == nil && len(b) > 0 {
		return nil, b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(text); err == nil && len(b) > 0 {
		return nil, b, nil
	}
	return nil, data, nil
}

// LoadPrivateKey reads an ed25519 private key: PKCS #8 PEM ("PRIVATE
// KEY", as seatctl keygen and openssl genpkey -algorithm ed25519 write),
// or a raw 32-byte seed or 64-byte key (binary, hex or base64).
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	block, raw, err := keyBytes("sign-key", path)
	if err != nil {
		return nil, err
	}
	bad := func(why string) error {
		return &cli.ConfigError{Err: fmt.Errorf("sign-key: %s is not an ed25519 private key: %s", path, why)}
	}
	if block != nil {
		if block.Type != "PRIVATE KEY" {
			return nil, bad(fmt.Sprintf("PEM block %q (want PRIVATE KEY)", block.Type))
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, bad(err.Error())
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, bad(fmt.Sprintf("it holds a %T", k))
		}
		return priv, nil
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.PrivateKey(raw)
		// The second half must be the public key of the first.
		if !bytes.Equal(ed25519.NewKeyFromSeed(priv.Seed()).Public().(ed25519.PublicKey), priv[32:]) {
			return nil, bad("its public half does not match its seed")
		}
		return priv, nil
	}
	return nil, bad(fmt.Sprintf("%d bytes (want PEM, a 32-byte seed or a 64-byte key)", len(raw)))
}

// LoadPublicKey reads an ed25519 public key: PKIX PEM ("PUBLIC KEY") or
// 32 raw bytes (binary, hex or base64). Anything else is refused, naming
// what the file holds: above all a private key, which belongs where
// exports are signed, not with whoever verifies them (and a check made
// with the signer's own key file proves nothing to a third party).
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	block, raw, err := keyBytes("pub-key", path)
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return &cli.ConfigError{Err: fmt.Errorf("pub-key: %s is not an ed25519 public key: it holds %s; "+
			"give the signer's public key (seatctl keygen wrote it as PREFIX.pub; openssl pkey -in KEY -pubout prints it)",
			path, fmt.Sprintf(format, args...))}
	}
	if block != nil {
		if block.Type != "PUBLIC KEY" {
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, bad("a private key (PEM %q): keep it where exports are signed", block.Type)
			}
			return nil, bad("PEM %q", block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, bad("a PEM PUBLIC KEY that does not parse (%v)", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, bad("a public key of another algorithm (%s)", keyAlgorithm(k))
		}
		return pub, nil
	}
	switch len(raw) {
	case ed25519.PublicKeySize:
		return ed25519.PublicKey(raw), nil
	case ed25519.PrivateKeySize:
		return nil, bad("64 bytes, an ed25519 private key (seed and public half): keep it where exports are signed")
	}
	return nil, bad("%d bytes (want PEM, or 32 raw bytes)", len(raw))
}

// keyAlgorithm names a parsed public key's algorithm for a message.
func keyAlgorithm(k any) string {
	s := strings.TrimPrefix(fmt.Sprintf("%T", k), "*")
	s, _, _ = strings.Cut(s, ".")
	return strings.ToUpper(s)
}

const keygenAbout = `seatctl keygen: make an ed25519 key pair for signing export bundles

Writes PREFIX.key (private, PKCS #8 PEM, mode 0600) and PREFIX.pub (public, PKIX PEM)
and prints the public key's fingerprint, which signed manifests record. Keep the
private key where exports run; give the public key to whoever verifies bundles.
Existing files are never overwritten. openssl genpkey -algorithm ed25519 makes
compatible keys.

Examples:
  seatctl keygen --out export-signing
  seatctl export --since 30d --out bundle --sign-key export-signing.key
  seatctl verify bundle --pub-key export-signing.pub

` + exitCodesHelp

func runKeygen(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "seatline-export", "file name prefix: writes PREFIX.key and PREFIX.pub")
	pos, err := parse(e, fs, args, keygenAbout)
	if err != nil {
		return err
	}
	if len(pos) == 1 && *out == "seatline-export" {
		*out = pos[0]
	} else if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if *out == "" || strings.HasSuffix(*out, "/") || strings.HasSuffix(*out, string(os.PathSeparator)) {
		return usageErrorf("out: %q is not a file name prefix: keygen writes PREFIX.key and PREFIX.pub (e.g. --out export-signing)", *out)
	}
	privPEM, pubPEM, pub, err := GenerateKey()
	if err != nil {
		return err
	}
	keyPath, pubPath := *out+".key", *out+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Stat(p); err == nil {
			return usageErrorf("%s exists; keygen never overwrites a key", p)
		}
	}
	if err := writeExcl(keyPath, privPEM, 0o600); err != nil {
		return err
	}
	if err := writeExcl(pubPath, pubPEM, 0o644); err != nil {
		os.Remove(keyPath)
		return err
	}
	fmt.Fprintf(e.stdout, "private key: %s (keep it secret)\npublic key:  %s\nfingerprint: %s\n", Visible(keyPath), Visible(pubPath), Fingerprint(pub))
	return nil
}

func writeExcl(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return usageErrorf("%s exists; keygen never overwrites a key", path)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
