// Package sbom makes the SPDX 2.3 documents Keel attaches to package images
// (`keel pkg build`) and merges them into one for a whole system
// (`keel build`, /sbom.spdx.json).
//
// Every document is a pure function of what it lists: element identifiers
// are hashes of the element's content, the namespace is a hash of the
// document, and the creation time is a fixed one unless asked otherwise, so
// the same inputs give the same bytes.
package sbom

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// Document is an SPDX 2.3 document.
type Document = spdx.Document

// MediaType is the media type of an SPDX JSON document.
const MediaType = "application/spdx+json"

// Creator names Keel in every document it makes.
const Creator = "keel"

// namespaceBase prefixes every documentNamespace; the rest is a hash of
// the document, so a namespace is unique to its content.
const namespaceBase = "https://keel-os.dev/spdx/"

// MaxSize bounds a document Parse reads: an image's SBOM lists packages,
// not every file, so this is far above any real one.
const MaxSize = 64 << 20

// FixedTime is the creation time of a reproducible document: the time of
// every file Keel writes into an image.
var FixedTime = time.Unix(0, 0).UTC()

// Builder collects the elements of one image's document: the image is its
// root package, which CONTAINS everything added.
type Builder struct {
	name     string
	root     *spdx.Package
	packages map[common.ElementID]*spdx.Package
	files    map[common.ElementID]*spdx.File
	rels     map[relKey]bool
}

type relKey struct{ a, typ, b string }

// New starts the document of the image called name (e.g. keel/getty).
// version (a tag or digest) may be empty.
func New(name, version string) *Builder {
	b := &Builder{
		name:     name,
		packages: map[common.ElementID]*spdx.Package{},
		files:    map[common.ElementID]*spdx.File{},
		rels:     map[relKey]bool{},
	}
	b.root = b.pkg("Image", name, version, "", nil)
	b.root.PrimaryPackagePurpose = "CONTAINER"
	b.relate("DOCUMENT", "DESCRIBES", string(b.root.PackageSPDXIdentifier))
	return b
}

// id makes an element identifier from a kind and the element's content.
func id(kind string, parts ...string) common.ElementID {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return common.ElementID(kind + "-" + hex.EncodeToString(h.Sum(nil))[:20])
}

func (b *Builder) pkg(kind, name, version, purl string, sums []common.Checksum) *spdx.Package {
	var sumParts []string
	for _, s := range sums {
		sumParts = append(sumParts, string(s.Algorithm)+":"+s.Value)
	}
	p := &spdx.Package{
		PackageName:               name,
		PackageSPDXIdentifier:     id(kind, append([]string{name, version, purl}, sumParts...)...),
		PackageVersion:            version,
		PackageDownloadLocation:   "NOASSERTION",
		FilesAnalyzed:             false,
		IsFilesAnalyzedTagPresent: true,
		PackageChecksums:          sums,
	}
	if purl != "" {
		p.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: purl}}
	}
	if old, ok := b.packages[p.PackageSPDXIdentifier]; ok {
		return old
	}
	b.packages[p.PackageSPDXIdentifier] = p
	return p
}

func (b *Builder) relate(a, typ, bID string) {
	b.rels[relKey{a, typ, bID}] = true
}

func (b *Builder) contain(p *spdx.Package) {
	b.relate(string(b.root.PackageSPDXIdentifier), "CONTAINS", string(p.PackageSPDXIdentifier))
}

// AddDeb lists a Debian package by its name, version, architecture and the
// SHA-256 of its .deb.
func (b *Builder) AddDeb(name, version, arch, sha256hex string) {
	purl := "pkg:deb/debian/" + url.PathEscape(name) + "@" + url.PathEscape(version)
	if arch != "" {
		purl += "?arch=" + url.QueryEscape(arch)
	}
	var sums []common.Checksum
	if sha256hex != "" {
		sums = []common.Checksum{{Algorithm: common.SHA256, Value: sha256hex}}
	}
	b.contain(b.pkg("Package-deb", name, version, purl, sums))
}

// AddGoModule lists a Go module by path, version and go.sum hash ("h1:"
// and base64; recorded as its SHA-256 in hex). A module without a version
// (the main module of a -trimpath build) has none in its purl.
func (b *Builder) AddGoModule(path, version, sum string) {
	purl := "pkg:golang/" + escapePath(path)
	if version != "" && version != "(devel)" {
		purl += "@" + url.PathEscape(version)
	}
	var sums []common.Checksum
	if h, ok := strings.CutPrefix(sum, "h1:"); ok {
		if raw, err := base64.StdEncoding.DecodeString(h); err == nil && len(raw) == sha256.Size {
			sums = []common.Checksum{{Algorithm: common.SHA256, Value: hex.EncodeToString(raw)}}
		}
	}
	b.contain(b.pkg("Package-go", path, version, purl, sums))
}

// escapePath escapes each segment of a slash-separated path for a purl.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// AddImage lists an image Keel has no SBOM for (a pulled one) by its
// reference and manifest digest.
func (b *Builder) AddImage(ref, digest string) {
	name, _, _ := strings.Cut(ref, "@")
	var sums []common.Checksum
	if h, ok := strings.CutPrefix(digest, "sha256:"); ok {
		sums = []common.Checksum{{Algorithm: common.SHA256, Value: h}}
	}
	purl := ""
	if digest != "" {
		purl = "pkg:oci/" + url.PathEscape(lastSegment(name)) + "@" + url.PathEscape(digest) + "?repository_url=" + url.QueryEscape(repository(name))
	}
	p := b.pkg("Image", ref, digest, purl, sums)
	p.PrimaryPackagePurpose = "CONTAINER"
	b.contain(p)
}

func lastSegment(name string) string {
	name, _, _ = strings.Cut(name, ":")
	if i := strings.LastIndex(name, "/"); i >= 0 {
		return name[i+1:]
	}
	return name
}

func repository(name string) string {
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		return name[:i]
	}
	return name
}

// AddFile lists a file the image holds, by its path and content.
func (b *Builder) AddFile(path string, data []byte) {
	s1, s256 := sha1.Sum(data), sha256.Sum256(data)
	f := &spdx.File{
		FileName:           path,
		FileSPDXIdentifier: id("File", path, hex.EncodeToString(s256[:])),
		Checksums: []common.Checksum{
			{Algorithm: common.SHA1, Value: hex.EncodeToString(s1[:])},
			{Algorithm: common.SHA256, Value: hex.EncodeToString(s256[:])},
		},
		FileCopyrightText: "NOASSERTION",
	}
	b.files[f.FileSPDXIdentifier] = f
	b.relate(string(b.root.PackageSPDXIdentifier), "CONTAINS", string(f.FileSPDXIdentifier))
}

// Include adds the elements of another document (a base image's, or one
// image's of a system): what it DESCRIBES becomes CONTAINED by this
// document's root, everything else is kept as it is. Identical elements
// (same identifier) are listed once.
func (b *Builder) Include(d *Document) {
	for _, p := range d.Packages {
		if p == nil || p.PackageSPDXIdentifier == "" {
			continue
		}
		if _, ok := b.packages[p.PackageSPDXIdentifier]; !ok {
			b.packages[p.PackageSPDXIdentifier] = p
		}
	}
	for _, f := range d.Files {
		if f == nil || f.FileSPDXIdentifier == "" {
			continue
		}
		if _, ok := b.files[f.FileSPDXIdentifier]; !ok {
			b.files[f.FileSPDXIdentifier] = f
		}
	}
	for _, r := range d.Relationships {
		if r == nil || r.RefA.DocumentRefID != "" || r.RefB.DocumentRefID != "" {
			continue
		}
		a, bID := string(r.RefA.ElementRefID), string(r.RefB.ElementRefID)
		if a == "DOCUMENT" && r.Relationship == "DESCRIBES" {
			b.relate(string(b.root.PackageSPDXIdentifier), "CONTAINS", bID)
			continue
		}
		b.relate(a, r.Relationship, bID)
	}
}

// Document returns the document, its elements sorted by name and
// identifier, created at created (FixedTime for a reproducible one).
func (b *Builder) Document(created time.Time) (*Document, error) {
	d := &spdx.Document{
		SPDXVersion:    spdx.Version,
		DataLicense:    spdx.DataLicense,
		SPDXIdentifier: "DOCUMENT",
		DocumentName:   b.name,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: Creator}},
			Created:  created.UTC().Format(time.RFC3339),
		},
	}
	for _, p := range b.packages {
		d.Packages = append(d.Packages, p)
	}
	sort.Slice(d.Packages, func(i, j int) bool {
		pi, pj := d.Packages[i], d.Packages[j]
		if pi.PackageName != pj.PackageName {
			return pi.PackageName < pj.PackageName
		}
		return pi.PackageSPDXIdentifier < pj.PackageSPDXIdentifier
	})
	for _, f := range b.files {
		d.Files = append(d.Files, f)
	}
	sort.Slice(d.Files, func(i, j int) bool {
		fi, fj := d.Files[i], d.Files[j]
		if fi.FileName != fj.FileName {
			return fi.FileName < fj.FileName
		}
		return fi.FileSPDXIdentifier < fj.FileSPDXIdentifier
	})
	var keys []relKey
	for k := range b.rels {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ki, kj := keys[i], keys[j]
		if ki.a != kj.a {
			return ki.a < kj.a
		}
		if ki.typ != kj.typ {
			return ki.typ < kj.typ
		}
		return ki.b < kj.b
	})
	for _, k := range keys {
		d.Relationships = append(d.Relationships, &spdx.Relationship{
			RefA:         common.MakeDocElementID("", k.a),
			RefB:         common.MakeDocElementID("", k.b),
			Relationship: k.typ,
		})
	}
	// The namespace is unique to the content: a hash of the document
	// without it.
	raw, err := Marshal(d)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	d.DocumentNamespace = namespaceBase + url.PathEscape(b.name) + "-" + hex.EncodeToString(sum[:16])
	return d, nil
}

// Marshal encodes d as indented SPDX JSON.
func Marshal(d *Document) ([]byte, error) {
	var buf bytes.Buffer
	if err := spdxjson.Write(d, &buf, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("encoding SPDX document: %w", err)
	}
	return buf.Bytes(), nil
}

// Parse decodes an SPDX JSON document of at most MaxSize bytes.
func Parse(r io.Reader) (*Document, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading SPDX document: %w", err)
	}
	if len(raw) > MaxSize {
		return nil, fmt.Errorf("SPDX document is larger than %d MiB", MaxSize>>20)
	}
	d, err := spdxjson.Read(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("decoding SPDX document: %w", err)
	}
	return d, nil
}

// IncludeAttested adds the elements of a document Keel did not make (an
// SBOM attestation a registry serves with an image) under this
// document's root. Its identifiers are only unique within it, so each is
// renamed to a hash of scope (the image's digest) and the old name: two
// images' documents cannot clash, and the same image gives the same
// names. What it DESCRIBES becomes CONTAINED by the root. License
// references to its own LicenseRef- texts, which are not carried over, are
// replaced by NOASSERTION; references to other documents are dropped.
func (b *Builder) IncludeAttested(d *Document, scope string) {
	rename := map[common.ElementID]common.ElementID{}
	newID := func(old common.ElementID) common.ElementID {
		if n, ok := rename[old]; ok {
			return n
		}
		n := id("Attested", scope, string(old))
		rename[old] = n
		return n
	}
	license := func(s string) string {
		if strings.Contains(s, "LicenseRef-") || strings.Contains(s, "DocumentRef-") {
			return "NOASSERTION"
		}
		return s
	}
	for _, p := range d.Packages {
		if p == nil || p.PackageSPDXIdentifier == "" {
			continue
		}
		c := *p
		c.PackageSPDXIdentifier = newID(p.PackageSPDXIdentifier)
		c.PackageLicenseConcluded = license(c.PackageLicenseConcluded)
		c.PackageLicenseDeclared = license(c.PackageLicenseDeclared)
		c.PackageLicenseInfoFromFiles = nil
		c.Files = nil
		c.Annotations = nil
		b.packages[c.PackageSPDXIdentifier] = &c
	}
	for _, f := range d.Files {
		if f == nil || f.FileSPDXIdentifier == "" {
			continue
		}
		c := *f
		c.FileSPDXIdentifier = newID(f.FileSPDXIdentifier)
		c.LicenseConcluded = license(c.LicenseConcluded)
		c.LicenseInfoInFiles = nil
		c.Snippets = nil
		c.Annotations = nil
		b.files[c.FileSPDXIdentifier] = &c
	}
	known := func(e common.ElementID) bool {
		_, ok := b.packages[e]
		if !ok {
			_, ok = b.files[e]
		}
		return ok
	}
	for _, r := range d.Relationships {
		if r == nil || r.RefA.DocumentRefID != "" || r.RefB.DocumentRefID != "" {
			continue
		}
		a, bID := r.RefA.ElementRefID, r.RefB.ElementRefID
		if a == "DOCUMENT" && r.Relationship == "DESCRIBES" {
			if n := newID(bID); known(n) {
				b.relate(string(b.root.PackageSPDXIdentifier), "CONTAINS", string(n))
			}
			continue
		}
		na, nb := newID(a), newID(bID)
		// A relationship with an element the document does not hold
		// (or NONE/NOASSERTION) would not resolve in the merged one.
		if known(na) && known(nb) {
			b.relate(string(na), r.Relationship, string(nb))
		}
	}
}
