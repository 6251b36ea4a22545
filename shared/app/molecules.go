package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/molformat"
)

// Molecules is the use case of molecule uploads (inline and presigned),
// downloads and deletion, and of the ingest of presigned uploads.
type Molecules struct {
	Store      Store
	Objects    ObjectStore
	Jobs       *Jobs // ingest starts docking jobs through the same use case as the API
	Clock      Clock
	PresignTTL time.Duration
	Log        *slog.Logger
}

// NewMoleculeInput is an inline upload.
type NewMoleculeInput struct {
	Name    string
	Format  string
	Content []byte
}

// checkContent validates content against its declared format, naming the
// field and line of the first problem.
func checkContent(field string, f domain.MoleculeFormat, content []byte) error {
	if _, err := molformat.Validate(f, content, molformat.DefaultLimits()); err != nil {
		return domain.InvalidField(field, fmt.Sprintf("not a valid %s file: %s", f, err.Error()))
	}
	return nil
}

func validateNameFormat(name, format string) (domain.MoleculeFormat, error) {
	fe := domain.FieldErrors{}
	if err := domain.ValidateName(name); err != nil {
		fe.Add("name", err.Error())
	}
	f, err := domain.ParseMoleculeFormat(format)
	if err != nil {
		fe.Add("format", err.Error())
	}
	return f, fe.Err()
}

// CreateMolecule validates and stores a molecule in the caller's org.
// Nothing is written unless the content is valid and fits the org's quota.
// Errors: VALIDATION_FAILED, PAYLOAD_TOO_LARGE, QUOTA_EXCEEDED.
func (m *Molecules) CreateMolecule(ctx context.Context, p domain.Principal, in NewMoleculeInput) (domain.Molecule, error) {
	f, err := validateNameFormat(in.Name, in.Format)
	if err != nil {
		return domain.Molecule{}, err
	}
	if len(in.Content) > domain.MaxInlineMoleculeBytes {
		return domain.Molecule{}, domain.Errorf(domain.CodePayloadTooLarge, "molecule content is larger than 5 MiB; use a presigned upload (POST /api/v1/molecules/uploads)")
	}
	if len(in.Content) == 0 {
		return domain.Molecule{}, domain.InvalidField("content", "required")
	}
	if err := checkContent("content", f, in.Content); err != nil {
		return domain.Molecule{}, err
	}
	sum := sha256.Sum256(in.Content)
	mol := domain.Molecule{ID: domain.NewID(), OrgID: p.OrgID, Name: in.Name, Format: f, SizeBytes: int64(len(in.Content)),
		SHA256: hex.EncodeToString(sum[:]), CreatedBy: p.SubjectID, CreatedAt: now(m.Clock)}
	return mol, m.store(ctx, p, mol, in.Content)
}

// store writes the object and the row under the org's lock, so the quota
// check and the write cannot interleave with another upload; an object
// whose row did not commit is removed again.
func (m *Molecules) store(ctx context.Context, p domain.Principal, mol domain.Molecule, content []byte) error {
	put := false
	err := m.Store.Tx(ctx, domain.OrgScope(mol.OrgID), func(tx Tx) error {
		if err := reserveStorage(ctx, tx, mol.OrgID, mol.SizeBytes); err != nil {
			return err
		}
		if err := m.Objects.PutObject(ctx, mol.Key(), content, contentType(mol.Format)); err != nil {
			return err
		}
		put = true
		if err := tx.Molecules().CreateMolecule(ctx, mol); err != nil {
			return err
		}
		e := audit(ctx, p, domain.AuditMoleculeCreated, "molecule", mol.ID)
		e.OrgID = mol.OrgID
		e.Detail = map[string]any{"format": mol.Format, "size_bytes": mol.SizeBytes, "sha256": mol.SHA256}
		return tx.Audit().AppendAudit(ctx, e)
	})
	if err != nil && put {
		if derr := m.Objects.DeleteObject(context.WithoutCancel(ctx), mol.Key()); derr != nil {
			m.log().ErrorContext(ctx, "orphan object left after a failed insert", "key", mol.Key(), "err", derr)
		}
	}
	return err
}

// reserveStorage checks that size more bytes fit the org's
// max_storage_bytes, holding the org's row lock until tx ends so that the
// check and the write cannot interleave with another upload. Errors:
// QUOTA_EXCEEDED.
func reserveStorage(ctx context.Context, tx Tx, orgID string, size int64) error {
	org, err := tx.Orgs().LockOrg(ctx, orgID)
	if err != nil {
		return err
	}
	used, err := tx.Molecules().StorageUsed(ctx)
	if err != nil {
		return err
	}
	if used+size > org.Quotas.MaxStorageBytes {
		return domain.Errorf(domain.CodeQuotaExceeded, "storage quota exceeded: %d of %d bytes used", used, org.Quotas.MaxStorageBytes)
	}
	return nil
}

func (m *Molecules) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

func contentType(f domain.MoleculeFormat) string {
	switch f {
	case domain.FormatSDF:
		return "chemical/x-mdl-sdfile"
	case domain.FormatMOL2:
		return "chemical/x-mol2"
	case domain.FormatSMI:
		return "chemical/x-daylight-smiles"
	case domain.FormatPDB, domain.FormatPDBQT:
		return "chemical/x-pdb"
	}
	return "application/octet-stream"
}

// ListMolecules lists the org's molecules, newest first.
func (m *Molecules) ListMolecules(ctx context.Context, p domain.Principal, page Page) (Paged[domain.Molecule], error) {
	var rows []domain.Molecule
	err := m.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		var err error
		rows, err = tx.Molecules().FindMolecules(ctx, page)
		return err
	})
	return paginate(rows, page, func(x domain.Molecule) string { return x.ID }), err
}

// GetMolecule returns one molecule. Errors: MOLECULE_NOT_FOUND (also for
// another org's).
func (m *Molecules) GetMolecule(ctx context.Context, p domain.Principal, id string) (domain.Molecule, error) {
	var mol domain.Molecule
	err := m.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		var err error
		mol, err = tx.Molecules().FindMoleculeByID(ctx, id)
		return err
	})
	return mol, err
}

// Download is a presigned GET.
type Download struct {
	URL       string
	ExpiresAt time.Time
}

// DownloadMolecule presigns a GET of the molecule's file and audits the
// access. Errors: MOLECULE_NOT_FOUND.
func (m *Molecules) DownloadMolecule(ctx context.Context, p domain.Principal, id string) (Download, error) {
	var d Download
	err := m.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		mol, err := tx.Molecules().FindMoleculeByID(ctx, id)
		if err != nil {
			return err
		}
		name := safeFileName(mol.Name, string(mol.Format))
		if d.URL, d.ExpiresAt, err = m.Objects.PresignGet(ctx, mol.Key(), m.PresignTTL, name); err != nil {
			return err
		}
		e := audit(ctx, p, domain.AuditArtifactAccessed, "molecule", mol.ID)
		e.Detail = map[string]any{"uri": mol.URI()}
		return tx.Audit().AppendAudit(ctx, e)
	})
	return d, err
}

// safeFileName turns a display name into a download file name.
func safeFileName(name, ext string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('_')
		}
		if b.Len() >= 80 {
			break
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		s = "molecule"
	}
	if !strings.HasSuffix(strings.ToLower(s), "."+ext) {
		s += "." + ext
	}
	return s
}

// DeleteMolecule removes a molecule's row and object. Members may delete
// their own molecules; molecule.delete_any widens that to the whole org.
// Errors: MOLECULE_NOT_FOUND, FORBIDDEN.
func (m *Molecules) DeleteMolecule(ctx context.Context, p domain.Principal, id string) error {
	var key string
	err := m.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		mol, err := tx.Molecules().FindMoleculeByID(ctx, id)
		if err != nil {
			return err
		}
		if mol.CreatedBy != p.SubjectID && !p.Can(domain.PermMoleculeDeleteAny) {
			return domain.Errorf(domain.CodeForbidden, "only the uploader or an operator may delete this molecule")
		}
		if err := tx.Molecules().DeleteMolecule(ctx, id); err != nil {
			return err
		}
		key = mol.Key()
		e := audit(ctx, p, domain.AuditMoleculeDeleted, "molecule", id)
		e.Detail = map[string]any{"name": mol.Name, "sha256": mol.SHA256}
		return tx.Audit().AppendAudit(ctx, e)
	})
	if err != nil {
		return err
	}
	// The row is gone, so nothing can reach the object any more; deleting
	// it after the commit means a failure here leaves garbage, never a
	// dangling row.
	if err := m.Objects.DeleteObject(ctx, key); err != nil {
		m.log().ErrorContext(ctx, "delete molecule object", "key", key, "err", err)
	}
	return nil
}

// NewUploadInput asks for a presigned upload.
type NewUploadInput struct {
	Name      string
	Format    string
	SizeBytes int64
	Run       *RunInput
}

// RunInput asks ingest to dock the uploaded ligand against a receptor.
type RunInput struct {
	PipelineID string
	Receptor   string
	Params     domain.VinaParamsPatch
}

// CreatedUpload is a pending upload with its presigned PUT.
type CreatedUpload struct {
	Upload  domain.Upload
	Request PresignedRequest
}

// CreateUpload records a pending upload and presigns a PUT of exactly
// SizeBytes bytes, SSE-KMS, into the uploads bucket. A run request is
// checked now (pipeline, receptor, params), so a bad one fails here and
// not after the upload. Errors: VALIDATION_FAILED, PAYLOAD_TOO_LARGE,
// QUOTA_EXCEEDED.
func (m *Molecules) CreateUpload(ctx context.Context, p domain.Principal, in NewUploadInput) (CreatedUpload, error) {
	f, err := validateNameFormat(in.Name, in.Format)
	if err != nil {
		return CreatedUpload{}, err
	}
	if in.SizeBytes <= 0 {
		return CreatedUpload{}, domain.InvalidField("size_bytes", "must be a positive number of bytes")
	}
	if in.SizeBytes > domain.MaxUploadMoleculeBytes {
		return CreatedUpload{}, domain.Errorf(domain.CodePayloadTooLarge, "uploads are limited to 100 MiB")
	}
	t := now(m.Clock)
	up := domain.Upload{ID: domain.NewID(), OrgID: p.OrgID, Name: in.Name, Format: f, SizeBytes: in.SizeBytes,
		Status: domain.UploadPending, CreatedBy: p.SubjectID, CreatedAt: t, ExpiresAt: t.Add(m.PresignTTL)}
	if in.Run != nil {
		if f == domain.FormatPDB {
			return CreatedUpload{}, domain.InvalidField("format", "an upload with run is the ligand: pdbqt, sdf, mol2 or smi (pdb files carry no bond orders)")
		}
		run := domain.RunSpec{PipelineID: in.Run.PipelineID, Receptor: in.Run.Receptor, Params: in.Run.Params}
		if err := m.Jobs.checkRun(ctx, p, run); err != nil {
			return CreatedUpload{}, err
		}
		up.Run = &run
	}
	err = m.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		if err := reserveStorage(ctx, tx, p.OrgID, in.SizeBytes); err != nil {
			return err
		}
		return tx.Uploads().CreateUpload(ctx, up)
	})
	if err != nil {
		return CreatedUpload{}, err
	}
	req, err := m.Objects.PresignUpload(ctx, domain.UploadKey(up.OrgID, up.ID), up.SizeBytes, m.PresignTTL)
	if err != nil {
		return CreatedUpload{}, err
	}
	return CreatedUpload{Upload: up, Request: req}, nil
}

// GetUpload returns an upload's status. Errors: UPLOAD_NOT_FOUND.
func (m *Molecules) GetUpload(ctx context.Context, p domain.Principal, id string) (domain.Upload, error) {
	var up domain.Upload
	err := m.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		var err error
		up, err = tx.Uploads().FindUploadByID(ctx, id)
		return err
	})
	return up, err
}

// ErrIgnoredObject is returned by Ingest for an object that is not a
// pending upload of this service; the caller acknowledges the message.
var ErrIgnoredObject = errors.New("object is not an upload of this service")

// ParseUploadKey returns the org and upload id of "<org>/uploads/<id>".
func ParseUploadKey(key string) (orgID, uploadID string, err error) {
	parts := strings.Split(key, "/")
	if len(parts) != 3 || parts[1] != "uploads" {
		return "", "", ErrIgnoredObject
	}
	if orgID, err = domain.ParseID(parts[0]); err != nil || orgID != parts[0] {
		return "", "", ErrIgnoredObject
	}
	if uploadID, err = domain.ParseID(parts[2]); err != nil || uploadID != parts[2] {
		return "", "", ErrIgnoredObject
	}
	return orgID, uploadID, nil
}

// Ingest registers the molecule of an upload that landed in S3 and, when
// the upload asked for it, starts its docking job. It is idempotent: a
// redelivered event for a finished upload changes nothing, and a job is
// created at most once (its idempotency key is the upload id). A rejected
// file marks the upload rejected with the reason and returns nil; only
// transient failures return an error, so SQS redelivers.
func (m *Molecules) Ingest(ctx context.Context, key string, size int64) (domain.Upload, error) {
	orgID, uploadID, err := ParseUploadKey(key)
	if err != nil {
		return domain.Upload{}, err
	}
	sys := domain.SystemPrincipal(orgID, "ingest")
	var up domain.Upload
	err = m.Store.Tx(ctx, domain.OrgScope(orgID), func(tx Tx) error {
		var err error
		up, err = tx.Uploads().FindUploadByID(ctx, uploadID)
		return err
	})
	if domain.ErrorCode(err) == domain.CodeUploadNotFound {
		return domain.Upload{}, ErrIgnoredObject
	}
	if err != nil {
		return domain.Upload{}, err
	}
	if up.Status == domain.UploadPending {
		if up, err = m.register(ctx, sys, up, key, size); err != nil {
			return up, err
		}
	}
	// A completed upload whose job was not created yet (a crash between
	// the two, or the first delivery) gets it now.
	if up.Status == domain.UploadCompleted && up.Run != nil && up.JobID == "" && up.Error == "" {
		return m.startRun(ctx, up)
	}
	return up, nil
}

// register validates the uploaded bytes and turns them into a molecule.
func (m *Molecules) register(ctx context.Context, sys domain.Principal, up domain.Upload, key string, size int64) (domain.Upload, error) {
	reject := func(reason string) (domain.Upload, error) {
		err := m.finishPending(ctx, &up, func(tx Tx) error {
			up.Status, up.Error = domain.UploadRejected, reason
			if err := tx.Uploads().UpdateUpload(ctx, up); err != nil {
				return err
			}
			e := audit(ctx, sys, domain.AuditUploadRejected, "upload", up.ID)
			e.Outcome, e.Detail = domain.OutcomeFailure, map[string]any{"reason": reason, "created_by": up.CreatedBy}
			return tx.Audit().AppendAudit(ctx, e)
		})
		if err == nil {
			_ = m.Objects.DeleteUpload(ctx, key)
		}
		return up, err
	}
	if size >= 0 && size != up.SizeBytes {
		return reject(fmt.Sprintf("uploaded %d bytes but declared %d", size, up.SizeBytes))
	}
	content, err := m.Objects.GetUpload(ctx, key, up.SizeBytes)
	if domain.ErrorCode(err) == domain.CodeUploadNotFound {
		// A concurrent delivery registered the upload and removed its
		// object after this one read the row: report what it recorded.
		err := m.Store.Tx(ctx, domain.OrgScope(up.OrgID), func(tx Tx) error {
			cur, err := tx.Uploads().FindUploadByID(ctx, up.ID)
			if err == nil {
				up = cur
			}
			return err
		})
		return up, err
	}
	if err != nil {
		if domain.ErrorCode(err) == domain.CodePayloadTooLarge {
			return reject(fmt.Sprintf("uploaded object is larger than the declared %d bytes", up.SizeBytes))
		}
		return up, err
	}
	if int64(len(content)) != up.SizeBytes {
		return reject(fmt.Sprintf("uploaded %d bytes but declared %d", len(content), up.SizeBytes))
	}
	if err := checkContent("file", up.Format, content); err != nil {
		de, _ := domain.AsError(err)
		return reject(de.Fields["file"])
	}
	sum := sha256.Sum256(content)
	mol := domain.Molecule{ID: deriveID(up.ID), OrgID: up.OrgID, Name: up.Name, Format: up.Format,
		SizeBytes: up.SizeBytes, SHA256: hex.EncodeToString(sum[:]), CreatedBy: up.CreatedBy, CreatedAt: now(m.Clock)}
	// The object goes in before the row; the key is derived from the upload
	// id, so a redelivery overwrites the same object instead of adding one.
	if err := m.Objects.PutObject(ctx, mol.Key(), content, contentType(mol.Format)); err != nil {
		return up, err
	}
	err = m.finishPending(ctx, &up, func(tx Tx) error {
		if err := tx.Molecules().CreateMolecule(ctx, mol); err != nil {
			return err
		}
		up.Status, up.MoleculeID = domain.UploadCompleted, mol.ID
		if err := tx.Uploads().UpdateUpload(ctx, up); err != nil {
			return err
		}
		e := audit(ctx, sys, domain.AuditMoleculeCreated, "molecule", mol.ID)
		e.Detail = map[string]any{"upload_id": up.ID, "created_by": up.CreatedBy, "format": mol.Format,
			"size_bytes": mol.SizeBytes, "sha256": mol.SHA256}
		return tx.Audit().AppendAudit(ctx, e)
	})
	if err != nil {
		return up, err
	}
	if err := m.Objects.DeleteUpload(ctx, key); err != nil {
		m.log().WarnContext(ctx, "delete ingested upload object", "err", err)
	}
	return up, nil
}

// finishPending runs finish in a transaction that holds the upload's row
// lock, only while the upload is still pending: a concurrent or redelivered
// event that got there first wins, and *up is replaced by what it wrote.
func (m *Molecules) finishPending(ctx context.Context, up *domain.Upload, finish func(Tx) error) error {
	return m.Store.Tx(ctx, domain.OrgScope(up.OrgID), func(tx Tx) error {
		cur, err := tx.Uploads().FindUploadByIDForUpdate(ctx, up.ID)
		if err != nil {
			return err
		}
		if cur.Status != domain.UploadPending {
			*up = cur
			return nil
		}
		return finish(tx)
	})
}

// deriveID maps an upload id to its molecule id deterministically, so a
// redelivered event reuses the id (and storage key) of the first attempt.
func deriveID(uploadID string) string {
	h := sha256.Sum256([]byte("molecule-of-upload:" + uploadID))
	b := h[:16]
	// Keep the upload's time prefix so the molecule sorts by upload time.
	u := strings.ReplaceAll(uploadID, "-", "")
	copy(b[:6], mustHex(u[:12]))
	b[6] = (b[6] & 0x0f) | 0x70
	b[8] = (b[8] & 0x3f) | 0x80
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

// startRun creates the upload's docking job through the job use case, on
// behalf of the uploader.
func (m *Molecules) startRun(ctx context.Context, up domain.Upload) (domain.Upload, error) {
	onBehalf := domain.Principal{SubjectID: up.CreatedBy, SubjectType: domain.SubjectSystem, OrgID: up.OrgID}
	req := CreateJobInput{
		PipelineID: up.Run.PipelineID,
		Receptor:   up.Run.Receptor,
		Ligand:     up.MoleculeID,
		Params:     up.Run.Params,
		UseCache:   true,
		// The upload id makes the job creation idempotent across redeliveries.
		IdempotencyKey: "upload:" + up.ID,
		RequestHash:    "upload:" + up.ID,
	}
	res, err := m.Jobs.CreateJob(ctx, onBehalf, req)
	var jobErr string
	if err != nil {
		if _, ok := domain.AsError(err); !ok {
			return up, err // transient: redeliver
		}
		jobErr = "job not created: " + err.Error()
	}
	err = m.Store.Tx(ctx, domain.OrgScope(up.OrgID), func(tx Tx) error {
		cur, err := tx.Uploads().FindUploadByIDForUpdate(ctx, up.ID)
		if err != nil {
			return err
		}
		if res.Job != nil {
			cur.JobID = res.Job.ID
		}
		cur.Error = jobErr
		up = cur
		return tx.Uploads().UpdateUpload(ctx, cur)
	})
	return up, err
}
