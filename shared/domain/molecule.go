package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MoleculeFormat is a file format the service accepts.
type MoleculeFormat string

// Accepted molecule formats.
const (
	FormatPDB   MoleculeFormat = "pdb"
	FormatPDBQT MoleculeFormat = "pdbqt"
	FormatSDF   MoleculeFormat = "sdf"
	FormatMOL2  MoleculeFormat = "mol2"
	FormatSMI   MoleculeFormat = "smi"
)

// MoleculeFormats lists the accepted formats.
var MoleculeFormats = []MoleculeFormat{FormatPDB, FormatPDBQT, FormatSDF, FormatMOL2, FormatSMI}

// ParseMoleculeFormat returns the format named s (lowercase only).
func ParseMoleculeFormat(s string) (MoleculeFormat, error) {
	for _, f := range MoleculeFormats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("must be one of pdb, pdbqt, sdf, mol2, smi")
}

// Size limits of molecule content.
const (
	MaxInlineMoleculeBytes = 5 << 20   // JSON or multipart upload through the API
	MaxUploadMoleculeBytes = 100 << 20 // presigned upload straight to S3
	MaxNameLength          = 200
)

// ValidateName checks a user-given display name: 1..200 printable
// characters, no path separators. Names are labels only and never reach a
// storage key, but a name that looks like a path is refused all the same so
// that no downstream tool is tempted to use it as one.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("required: 1 to %d printable characters", MaxNameLength)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLength {
		return fmt.Errorf("must be at most %d characters (got %d)", MaxNameLength, n)
	}
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("must not be blank")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("must contain only printable characters (found %U)", r)
		}
		if r == '/' || r == '\\' {
			return fmt.Errorf("must not contain path separators")
		}
	}
	return nil
}

// Molecule is an uploaded structure.
type Molecule struct {
	ID        string
	OrgID     string
	Name      string
	Format    MoleculeFormat
	SizeBytes int64
	SHA256    string
	CreatedBy string
	CreatedAt time.Time
}

// Key is the molecule's object key: built only from server-made ids.
func (m Molecule) Key() string { return MoleculeKey(m.OrgID, m.ID, m.Format) }

// URI is the molecule's mad:// URI.
func (m Molecule) URI() string { return "mad://org/" + m.Key() }

// MoleculeKey returns "<org_id>/molecules/<molecule_id>.<format>".
func MoleculeKey(orgID, moleculeID string, f MoleculeFormat) string {
	return orgID + "/molecules/" + moleculeID + "." + string(f)
}

// UploadKey returns "<org_id>/uploads/<upload_id>".
func UploadKey(orgID, uploadID string) string {
	return orgID + "/uploads/" + uploadID
}

// JobArtifactKey returns "<org_id>/jobs/<job_id>/<artifact>". The artifact
// name must be one of the engine's fixed file names.
func JobArtifactKey(orgID, jobID, artifact string) string {
	return orgID + "/jobs/" + jobID + "/" + artifact
}

// UploadStatus is the state of a presigned upload.
type UploadStatus string

// Upload states.
const (
	UploadPending   UploadStatus = "pending"
	UploadCompleted UploadStatus = "completed"
	UploadRejected  UploadStatus = "rejected"
)

// RunSpec asks ingest to start a docking job once an upload lands, with the
// uploaded molecule as the ligand.
type RunSpec struct {
	PipelineID string
	Receptor   string // molecule id or mad:// URI
	Params     VinaParamsPatch
}

// Upload is a presigned upload and what became of it.
type Upload struct {
	ID         string
	OrgID      string
	Name       string
	Format     MoleculeFormat
	SizeBytes  int64
	Status     UploadStatus
	Run        *RunSpec
	MoleculeID string
	JobID      string
	Error      string
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}
