package s3store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mad-bio/mad/shared/domain"
)

// ErrInvalidKey is wrapped by every error about a key that is not one of
// the server's key shapes. Keys are built by domain helpers from
// server-made ids, so this error means a bug (or a forged event) and maps
// to INTERNAL_ERROR at the edge.
var ErrInvalidKey = errors.New("invalid object key")

// ErrOtherOrg is wrapped by CheckOrgKey's error when a well-formed key
// belongs to another org.
var ErrOtherOrg = errors.New("object key belongs to another org")

// keyKind says which bucket a key shape lives in.
type keyKind int

const (
	kindMolecule keyKind = iota + 1 // artifacts bucket: <org>/molecules/<id>.<format>
	kindJob                         // artifacts bucket: <org>/jobs/<job>/<artifact>
	kindUpload                      // uploads bucket:   <org>/uploads/<upload>
)

func (k keyKind) artifact() bool { return k == kindMolecule || k == kindJob }

// checkKey is the one gate every key passes before it reaches S3. It
// accepts exactly the server's shapes
//
//	<org>/molecules/<uuid>.<pdb|pdbqt|sdf|mol2|smi>
//	<org>/jobs/<uuid>/<poses.pdbqt|poses.sdf|vina.log|result.json>
//	<org>/uploads/<uuid>
//
// with lowercase canonical UUIDs. Every segment is either a canonical UUID
// or a fixed name, so "..", "//", a leading "/", percent-encoding, unicode,
// backslashes and NUL bytes are impossible by construction, not by a deny
// list: a key that passes cannot leave its org's prefix.
func checkKey(key string) (keyKind, error) {
	bad := func(why string) (keyKind, error) {
		return 0, fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why)
	}
	parts := strings.Split(key, "/")
	if len(parts) < 3 {
		return bad("too few segments")
	}
	if !canonicalID(parts[0]) {
		return bad("org segment is not a canonical UUID")
	}
	switch parts[1] {
	case "molecules":
		if len(parts) != 3 {
			return bad("molecule keys have three segments")
		}
		id, ext, ok := strings.Cut(parts[2], ".")
		if !ok || !canonicalID(id) {
			return bad("molecule segment is not <uuid>.<format>")
		}
		if _, err := domain.ParseMoleculeFormat(ext); err != nil {
			return bad("unknown molecule format")
		}
		return kindMolecule, nil
	case "jobs":
		if len(parts) != 4 {
			return bad("job keys have four segments")
		}
		if !canonicalID(parts[2]) {
			return bad("job segment is not a canonical UUID")
		}
		if _, ok := domain.JobArtifacts[parts[3]]; !ok {
			return bad("not a job artifact name")
		}
		return kindJob, nil
	case "uploads":
		if len(parts) != 3 {
			return bad("upload keys have three segments")
		}
		if !canonicalID(parts[2]) {
			return bad("upload segment is not a canonical UUID")
		}
		return kindUpload, nil
	}
	return bad("unknown key shape")
}

// canonicalID reports whether s is a UUID in its one canonical spelling
// (lowercase 8-4-4-4-12 hex).
func canonicalID(s string) bool {
	id, err := domain.ParseID(s)
	return err == nil && id == s
}

// OrgOf returns the org id a key belongs to, or "" when key is not one of
// the server's key shapes. Consumers of S3 events use it to learn which
// org an object belongs to without trusting anything else in the event.
func OrgOf(key string) string {
	if _, err := checkKey(key); err != nil {
		return ""
	}
	org, _, _ := strings.Cut(key, "/")
	return org
}

// CheckOrgKey checks that key is one of the server's key shapes and lies
// under orgID's prefix. Callers that hold a principal pin the org with it
// before handing a key on. Errors wrap ErrInvalidKey or ErrOtherOrg (not
// domain errors: a caller reaching them has a bug, so they surface as
// INTERNAL_ERROR).
func CheckOrgKey(orgID, key string) error {
	if _, err := checkKey(key); err != nil {
		return err
	}
	if !canonicalID(orgID) || OrgOf(key) != orgID {
		return fmt.Errorf("%w: %q is not under org %q", ErrOtherOrg, key, orgID)
	}
	return nil
}
