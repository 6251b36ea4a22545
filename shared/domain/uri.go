package domain

import (
	"fmt"
	"strings"
)

// Artifact file names the engine writes. Only these can be requested, so
// a job file request can never name another key.
var JobArtifacts = map[string]string{
	"poses.pdbqt": "poses_pdbqt",
	"poses.sdf":   "poses_sdf",
	"vina.log":    "log",
	"result.json": "result_json",
}

// ObjectRef is a parsed mad:// URI: the object it names, in one org.
type ObjectRef struct {
	OrgID      string
	MoleculeID string         // set for molecule URIs
	Format     MoleculeFormat // molecule URIs only
	JobID      string         // set for job artifact URIs
	Artifact   string         // job artifact file name
}

// Key returns the storage key of the referenced object.
func (r ObjectRef) Key() string {
	if r.MoleculeID != "" {
		return MoleculeKey(r.OrgID, r.MoleculeID, r.Format)
	}
	return JobArtifactKey(r.OrgID, r.JobID, r.Artifact)
}

// JobArtifactURI returns the mad:// URI of a job artifact.
func JobArtifactURI(orgID, jobID, artifact string) string {
	return "mad://org/" + JobArtifactKey(orgID, jobID, artifact)
}

// ParseObjectURI parses "mad://org/<org>/molecules/<id>.<fmt>" or
// "mad://org/<org>/jobs/<job>/<artifact>". Every part is checked against the
// server's own id and name rules, so the resulting key cannot leave the
// org's prefix or name anything the server did not write.
func ParseObjectURI(uri string) (ObjectRef, error) {
	bad := fmt.Errorf("not a mad:// object URI")
	rest, ok := strings.CutPrefix(uri, "mad://org/")
	if !ok {
		return ObjectRef{}, bad
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 3 {
		return ObjectRef{}, bad
	}
	org, err := ParseID(parts[0])
	if err != nil {
		return ObjectRef{}, bad
	}
	switch {
	case parts[1] == "molecules" && len(parts) == 3:
		id, ext, ok := strings.Cut(parts[2], ".")
		if !ok {
			return ObjectRef{}, bad
		}
		mid, err := ParseID(id)
		if err != nil {
			return ObjectRef{}, bad
		}
		f, err := ParseMoleculeFormat(ext)
		if err != nil {
			return ObjectRef{}, bad
		}
		return ObjectRef{OrgID: org, MoleculeID: mid, Format: f}, nil
	case parts[1] == "jobs" && len(parts) == 4:
		jid, err := ParseID(parts[2])
		if err != nil {
			return ObjectRef{}, bad
		}
		if _, ok := JobArtifacts[parts[3]]; !ok {
			return ObjectRef{}, bad
		}
		return ObjectRef{OrgID: org, JobID: jid, Artifact: parts[3]}, nil
	}
	return ObjectRef{}, bad
}

// ParseMoleculeRef accepts a molecule id or a molecule mad:// URI and
// returns the id. A URI naming another org is refused: the caller's org is
// the only one a reference may point into.
func ParseMoleculeRef(ref, orgID string) (string, error) {
	if id, err := ParseID(ref); err == nil {
		return id, nil
	}
	r, err := ParseObjectURI(ref)
	if err != nil || r.MoleculeID == "" {
		return "", fmt.Errorf("must be a molecule id or a mad:// molecule URI")
	}
	if r.OrgID != orgID {
		return "", fmt.Errorf("molecule not found in your organization")
	}
	return r.MoleculeID, nil
}
