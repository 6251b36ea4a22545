package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// maxKMSRawMessage is kms:Sign's limit for MessageType RAW. Valid MAD
// tokens stay far below it (claims are bounded by the role and permission
// lists), so a longer signing input is refused instead of pre-hashed.
const maxKMSRawMessage = 4096

// kmsAlgorithm maps a JWS alg to the KMS signing algorithm and the key
// specs that can produce it.
func kmsAlgorithm(alg string) (kmstypes.SigningAlgorithmSpec, []kmstypes.KeySpec) {
	switch alg {
	case RS256:
		return kmstypes.SigningAlgorithmSpecRsassaPkcs1V15Sha256,
			[]kmstypes.KeySpec{kmstypes.KeySpecRsa2048, kmstypes.KeySpecRsa3072, kmstypes.KeySpecRsa4096}
	case ES256:
		return kmstypes.SigningAlgorithmSpecEcdsaSha256, []kmstypes.KeySpec{kmstypes.KeySpecEccNistP256}
	}
	return "", nil
}

// keyIDFromKMS turns a KMS KeyId answer (an ARN in AWS, a bare id in some
// emulators) into the bare key id used as kid.
func keyIDFromKMS(id string) string {
	if i := strings.LastIndex(id, ":key/"); i >= 0 && strings.HasPrefix(id, "arn:") {
		return id[i+len(":key/"):]
	}
	return id
}

// publicKey is one KMS key's verification material.
type publicKey struct {
	kid string
	key any // *rsa.PublicKey or *ecdsa.PublicKey
	jwk jwk
}

// fetchPublicKey reads the public key of KMS key ref and checks it can
// produce alg. KMS public keys never change, so callers cache the result.
func fetchPublicKey(ctx context.Context, km KMSAPI, ref, alg string) (publicKey, error) {
	out, err := km.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: &ref})
	if err != nil {
		return publicKey{}, fmt.Errorf("kms get public key %s: %w", ref, err)
	}
	want, specs := kmsAlgorithm(alg)
	spec := out.KeySpec
	if spec == "" {
		// moto (5.2) answers only the deprecated CustomerMasterKeySpec.
		spec = kmstypes.KeySpec(out.CustomerMasterKeySpec)
	}
	if out.KeyUsage != kmstypes.KeyUsageTypeSignVerify || !slices.Contains(specs, spec) ||
		(len(out.SigningAlgorithms) > 0 && !slices.Contains(out.SigningAlgorithms, want)) {
		return publicKey{}, fmt.Errorf("kms key %s (%s, %s) cannot sign %s", ref, out.KeyUsage, spec, alg)
	}
	parsed, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return publicKey{}, fmt.Errorf("kms key %s: parse public key: %w", ref, err)
	}
	var key any
	switch pub := parsed.(type) {
	case *rsa.PublicKey:
		if alg != RS256 || pub.N.BitLen() < 2048 {
			return publicKey{}, fmt.Errorf("kms key %s: RSA key of %d bits for %s", ref, pub.N.BitLen(), alg)
		}
		key = pub
	case *ecdsa.PublicKey:
		if alg != ES256 || pub.Curve != elliptic.P256() {
			return publicKey{}, fmt.Errorf("kms key %s: EC key on the wrong curve for %s", ref, alg)
		}
		key = pub
	default:
		return publicKey{}, fmt.Errorf("kms key %s: unsupported public key type %T", ref, parsed)
	}
	kid := ref
	if out.KeyId != nil {
		kid = keyIDFromKMS(*out.KeyId)
	}
	j, err := toJWK(kid, alg, key)
	if err != nil {
		return publicKey{}, fmt.Errorf("kms key %s: %w", ref, err)
	}
	return publicKey{kid: kid, key: key, jwk: j}, nil
}

// kmsSign signs the JWS signing input with KMS key ref and returns the JWS
// signature bytes.
func kmsSign(ctx context.Context, km KMSAPI, ref, alg, signingInput string) ([]byte, error) {
	if len(signingInput) > maxKMSRawMessage {
		return nil, fmt.Errorf("token signing input of %d bytes exceeds kms:Sign's %d", len(signingInput), maxKMSRawMessage)
	}
	spec, _ := kmsAlgorithm(alg)
	out, err := km.Sign(ctx, &kms.SignInput{
		KeyId:            &ref,
		Message:          []byte(signingInput),
		MessageType:      kmstypes.MessageTypeRaw,
		SigningAlgorithm: spec,
	})
	if err != nil {
		return nil, fmt.Errorf("kms sign with %s: %w", ref, err)
	}
	if alg == ES256 {
		return derToJOSE(out.Signature, 32)
	}
	return out.Signature, nil
}

// derToJOSE converts an ASN.1 DER ECDSA signature (what KMS returns) into
// the JWS form R || S, each left-padded to size bytes (RFC 7518 3.4).
func derToJOSE(der []byte, size int) ([]byte, error) {
	var seq, r, s cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, asn1.INTEGER) || !seq.ReadASN1(&s, asn1.INTEGER) || !seq.Empty() {
		return nil, errors.New("ecdsa signature is not DER SEQUENCE { r INTEGER, s INTEGER }")
	}
	out := make([]byte, 2*size)
	if err := putScalar(out[:size], r); err != nil {
		return nil, err
	}
	if err := putScalar(out[size:], s); err != nil {
		return nil, err
	}
	return out, nil
}

// putScalar writes a positive DER INTEGER's contents into dst, dropping
// the sign byte and left-padding with zeros.
func putScalar(dst, v []byte) error {
	if len(v) == 0 || v[0]&0x80 != 0 {
		return errors.New("ecdsa signature has a non-positive scalar")
	}
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) == 0 {
		return errors.New("ecdsa signature has a zero scalar")
	}
	if len(v) > len(dst) {
		return errors.New("ecdsa signature scalar too long")
	}
	copy(dst[len(dst)-len(v):], v)
	return nil
}
