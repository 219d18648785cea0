package uki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"debug/pe"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sort"
)

// Signer holds a Secure Boot signing key and its certificate. Firmware
// boots the signed image when the certificate (or one it chains to) is in
// its db.
type Signer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// LoadSigner reads a PEM certificate and an unencrypted PEM private key
// (PKCS#1, PKCS#8 or SEC 1) and checks that they belong together.
func LoadSigner(certFile, keyFile string) (*Signer, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("reading the signing certificate: %w", err)
	}
	block, _ := pem.Decode(cb)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading the signing key: %w", err)
	}
	block, _ = pem.Decode(kb)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", keyFile)
	}
	if block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, fmt.Errorf("%s: the key is encrypted; decrypt it first, e.g. openssl pkcs8 -in %s -out key.pem", keyFile, keyFile)
	}
	key, err := parseKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, fmt.Errorf("%s does not belong to the certificate %s", keyFile, certFile)
	}
	return &Signer{Cert: cert, Key: key}, nil
}

func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("not an RSA or ECDSA private key in PKCS#1, PKCS#8 or SEC 1 form")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// Authenticode object identifiers (Microsoft's PE signing format, which
// UEFI firmware verifies).
var (
	oidSPCIndirectData = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}
	oidSPCPEImageData  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 15}
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSA             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECDSASHA256     = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

type algorithm struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

var asn1Null = asn1.RawValue{Tag: asn1.TagNull}

type digestInfo struct {
	Algorithm algorithm
	Digest    []byte
}

type attributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// spcIndirectData says "this is a PE image with this digest"; it is the
// signed content of an Authenticode signature.
type spcIndirectData struct {
	Data          attributeTypeAndValue
	MessageDigest digestInfo
}

// peImageData is SpcPeImageData with no flags and the customary empty
// file link: SEQUENCE { BIT STRING {}, [0] { [2] { [0] "" } } }.
var peImageData = []byte{0x30, 0x09, 0x03, 0x01, 0x00, 0xa0, 0x04, 0xa2, 0x02, 0x80, 0x00}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue // a SET OF
}

type signerInfo struct {
	Version            int
	IssuerAndSerial    issuerAndSerial
	DigestAlgorithm    algorithm
	SignedAttrs        asn1.RawValue // [0] IMPLICIT SET OF attribute
	SignatureAlgorithm algorithm
	Signature          []byte
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT
}

type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue // SET OF algorithm
	ContentInfo      contentInfo
	Certificates     asn1.RawValue // [0] IMPLICIT SET OF certificate
	SignerInfos      asn1.RawValue // SET OF signerInfo
}

// Sign returns image with an Authenticode signature by s appended, the
// form UEFI Secure Boot verifies. The signature carries no signing time,
// so the same image and key always give the same bytes (with RSA, whose
// PKCS #1 v1.5 signatures are deterministic).
func Sign(image []byte, s *Signer) ([]byte, error) {
	f, err := pe.NewFile(bytes.NewReader(image))
	if err != nil {
		return nil, fmt.Errorf("reading the EFI image to sign: %w", err)
	}
	if _, ok := f.OptionalHeader.(*pe.OptionalHeader64); !ok {
		return nil, errors.New("signing: not a 64-bit PE image")
	}
	dir := securityDirOffset(image)
	if binary.LittleEndian.Uint32(image[dir+4:]) != 0 {
		return nil, errors.New("signing: the image is already signed")
	}
	// The certificate table goes at the end, 8-byte aligned, and the
	// digest covers that padding.
	padded := append(bytes.Clone(image), make([]byte, (8-len(image)%8)%8)...)
	digest, err := authenticodeDigest(padded, f)
	if err != nil {
		return nil, err
	}
	sig, err := signedDigest(digest, s)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	// WIN_CERTIFICATE: length, revision 2.0, type PKCS_SIGNED_DATA, then
	// the DER signature, padded to 8 bytes.
	certLen := 8 + len(sig)
	entry := make([]byte, 8, certLen+8)
	binary.LittleEndian.PutUint32(entry[0:], uint32(certLen))
	binary.LittleEndian.PutUint16(entry[4:], 0x0200)
	binary.LittleEndian.PutUint16(entry[6:], 0x0002)
	entry = append(entry, sig...)
	entry = append(entry, make([]byte, (8-len(entry)%8)%8)...)
	binary.LittleEndian.PutUint32(padded[dir:], uint32(len(padded)))
	binary.LittleEndian.PutUint32(padded[dir+4:], uint32(len(entry)))
	return append(padded, entry...), nil
}

// securityDirOffset is the file offset of the certificate table's entry
// in the data directories of a PE32+ image.
func securityDirOffset(image []byte) int {
	optOff := int(binary.LittleEndian.Uint32(image[0x3c:])) + 4 + 20
	return optOff + 112 + 4*8
}

// authenticodeDigest hashes a PE image the way Authenticode defines: the
// headers without the checksum and the certificate table entry, the
// sections in file order, then whatever follows them.
func authenticodeDigest(image []byte, f *pe.File) ([]byte, error) {
	opt := f.OptionalHeader.(*pe.OptionalHeader64)
	optOff := int(binary.LittleEndian.Uint32(image[0x3c:])) + 4 + 20
	checksum := optOff + 64
	dir := securityDirOffset(image)
	headers := int(opt.SizeOfHeaders)
	if headers > len(image) || dir+8 > headers {
		return nil, errors.New("signing: malformed PE headers")
	}
	h := sha256.New()
	h.Write(image[:checksum])
	h.Write(image[checksum+4 : dir])
	h.Write(image[dir+8 : headers])
	secs := append([]*pe.Section(nil), f.Sections...)
	sort.Slice(secs, func(i, j int) bool { return secs[i].Offset < secs[j].Offset })
	end := headers
	for _, s := range secs {
		if s.Size == 0 {
			continue
		}
		lo, hi := int(s.Offset), int(s.Offset)+int(s.Size)
		if lo < headers || hi > len(image) {
			return nil, fmt.Errorf("signing: section %s lies outside the image", s.Name)
		}
		h.Write(image[lo:hi])
		end = max(end, hi)
	}
	h.Write(image[end:])
	return h.Sum(nil), nil
}

// signedDigest builds the PKCS #7 SignedData over an SpcIndirectDataContent
// naming digest.
func signedDigest(digest []byte, s *Signer) ([]byte, error) {
	sha := algorithm{Algorithm: oidSHA256, Parameters: asn1Null}
	content, err := asn1.Marshal(spcIndirectData{
		Data:          attributeTypeAndValue{Type: oidSPCPEImageData, Value: asn1.RawValue{FullBytes: peImageData}},
		MessageDigest: digestInfo{Algorithm: sha, Digest: digest},
	})
	if err != nil {
		return nil, err
	}
	// The message digest attribute covers the content's value, without
	// its own SEQUENCE header.
	var inner asn1.RawValue
	if _, err := asn1.Unmarshal(content, &inner); err != nil {
		return nil, err
	}
	contentDigest := sha256.Sum256(inner.Bytes)
	ct, err := newAttribute(oidContentType, oidSPCIndirectData)
	if err != nil {
		return nil, err
	}
	md, err := newAttribute(oidMessageDigest, contentDigest[:])
	if err != nil {
		return nil, err
	}
	// The signature covers the attributes encoded as a DER SET OF, whose
	// elements are sorted by their encoding.
	attrs := [][]byte{ct, md}
	sort.Slice(attrs, func(i, j int) bool { return bytes.Compare(attrs[i], attrs[j]) < 0 })
	set := bytes.Join(attrs, nil)
	setDER, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: set})
	if err != nil {
		return nil, err
	}
	attrsDigest := sha256.Sum256(setDER)
	var sigAlg algorithm
	switch s.Key.Public().(type) {
	case *rsa.PublicKey:
		sigAlg = algorithm{Algorithm: oidRSA, Parameters: asn1Null}
	case *ecdsa.PublicKey:
		sigAlg = algorithm{Algorithm: oidECDSASHA256}
	default:
		return nil, fmt.Errorf("unsupported key type %T (use RSA, as UEFI firmware does)", s.Key.Public())
	}
	signature, err := s.Key.Sign(rand.Reader, attrsDigest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	si, err := asn1.Marshal(signerInfo{
		Version:            1,
		IssuerAndSerial:    issuerAndSerial{Issuer: asn1.RawValue{FullBytes: s.Cert.RawIssuer}, Serial: s.Cert.SerialNumber},
		DigestAlgorithm:    sha,
		SignedAttrs:        asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: set},
		SignatureAlgorithm: sigAlg,
		Signature:          signature,
	})
	if err != nil {
		return nil, err
	}
	shaDER, err := asn1.Marshal(sha)
	if err != nil {
		return nil, err
	}
	sd, err := asn1.Marshal(signedData{
		Version:          1,
		DigestAlgorithms: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: shaDER},
		ContentInfo: contentInfo{
			ContentType: oidSPCIndirectData,
			Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: content},
		},
		Certificates: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: s.Cert.Raw},
		SignerInfos:  asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: si},
	})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(contentInfo{
		ContentType: oidSignedData,
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd},
	})
}

// newAttribute encodes a PKCS #9 attribute with one value.
func newAttribute(typ asn1.ObjectIdentifier, value any) ([]byte, error) {
	v, err := asn1.Marshal(value)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(attribute{Type: typ, Values: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: v}})
}
