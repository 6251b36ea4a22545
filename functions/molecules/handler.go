package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/wire"
)

// handler serves molecules and presigned uploads.
type handler struct {
	molecules *app.Molecules
}

func newMux(h handler, mux *apigw.Mux) *apigw.Mux {
	mux.Handle("POST /api/v1/molecules", h.create)
	mux.Handle("GET /api/v1/molecules", h.list)
	mux.Handle("POST /api/v1/molecules/uploads", h.createUpload)
	mux.Handle("GET /api/v1/molecules/uploads/{upload_id}", h.getUpload)
	mux.Handle("GET /api/v1/molecules/{molecule_id}", h.get)
	mux.Handle("GET /api/v1/molecules/{molecule_id}/download", h.download)
	mux.Handle("DELETE /api/v1/molecules/{molecule_id}", h.delete)
	return mux
}

type moleculeJSON struct {
	MoleculeID string `json:"molecule_id"`
	Name       string `json:"name"`
	Format     string `json:"format"`
	SizeBytes  int64  `json:"size_bytes"`
	SHA256     string `json:"sha256"`
	URI        string `json:"uri"`
	CreatedBy  string `json:"created_by"`
	CreatedAt  string `json:"created_at"`
}

func moleculeOut(m domain.Molecule) moleculeJSON {
	return moleculeJSON{MoleculeID: m.ID, Name: m.Name, Format: string(m.Format), SizeBytes: m.SizeBytes,
		SHA256: m.SHA256, URI: m.URI(), CreatedBy: m.CreatedBy, CreatedAt: wire.Time(m.CreatedAt)}
}

type createRequest struct {
	Name    string `json:"name"`
	Format  string `json:"format"`
	Content string `json:"content"`
}

func (h handler) create(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	in, err := readUpload(r)
	if err != nil {
		return nil, err
	}
	m, err := h.molecules.CreateMolecule(ctx, r.Principal, in)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusCreated, moleculeOut(m)), nil
}

// readUpload accepts the JSON form or multipart/form-data (which API
// Gateway delivers base64-encoded; apigw has decoded it already).
func readUpload(r *apigw.Request) (app.NewMoleculeInput, error) {
	ct := r.Header("content-type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil && ct != "" {
		return app.NewMoleculeInput{}, domain.InvalidField("Content-Type", "is not a valid media type")
	}
	switch mt {
	case "", "application/json":
		var in createRequest
		if err := r.DecodeJSON(&in); err != nil {
			return app.NewMoleculeInput{}, err
		}
		return app.NewMoleculeInput{Name: in.Name, Format: in.Format, Content: []byte(in.Content)}, nil
	case "multipart/form-data":
		return readMultipart(r.Body(), params["boundary"])
	}
	return app.NewMoleculeInput{}, domain.InvalidField("Content-Type", "must be application/json or multipart/form-data")
}

func readMultipart(body []byte, boundary string) (app.NewMoleculeInput, error) {
	if boundary == "" {
		return app.NewMoleculeInput{}, domain.InvalidField("Content-Type", "multipart/form-data needs a boundary")
	}
	var in app.NewMoleculeInput
	seen := map[string]bool{}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return in, domain.InvalidField("body", "is not valid multipart/form-data")
		}
		name := part.FormName()
		if name == "" {
			return in, domain.InvalidField("body", "every part needs Content-Disposition: form-data with a name")
		}
		// Part names are the client's: bounded before they reach an error.
		field := truncate(name, 64)
		if seen[name] {
			return in, domain.InvalidField(field, "given more than once")
		}
		seen[name] = true
		limit := int64(1024)
		if name == "file" {
			limit = domain.MaxInlineMoleculeBytes
		}
		b, err := io.ReadAll(io.LimitReader(part, limit+1))
		if err != nil {
			return in, domain.InvalidField(field, "could not be read")
		}
		if int64(len(b)) > limit {
			if name == "file" {
				return in, domain.Errorf(domain.CodePayloadTooLarge, "molecule content is larger than 5 MiB; use a presigned upload")
			}
			return in, domain.InvalidField(field, "is too long")
		}
		switch name {
		case "file":
			in.Content = b
		case "name":
			in.Name = string(b)
		case "format":
			in.Format = strings.TrimSpace(string(b))
		default:
			return in, domain.InvalidField(field, "is not an accepted field")
		}
	}
	if !seen["file"] {
		return in, domain.InvalidField("file", "required")
	}
	return in, nil
}

// truncate cuts s to at most n bytes at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (h handler) list(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	page, err := r.Page()
	if err != nil {
		return nil, err
	}
	res, err := h.molecules.ListMolecules(ctx, r.Principal, page)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, wire.NewList(wire.Map(res.Items, moleculeOut), res.NextCursor)), nil
}

func (h handler) get(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("molecule_id")
	if err != nil {
		return nil, err
	}
	m, err := h.molecules.GetMolecule(ctx, r.Principal, id)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, moleculeOut(m)), nil
}

type downloadJSON struct {
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
}

func (h handler) download(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("molecule_id")
	if err != nil {
		return nil, err
	}
	d, err := h.molecules.DownloadMolecule(ctx, r.Principal, id)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, downloadJSON{URL: d.URL, ExpiresAt: wire.Time(d.ExpiresAt)}), nil
}

func (h handler) delete(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("molecule_id")
	if err != nil {
		return nil, err
	}
	if err := h.molecules.DeleteMolecule(ctx, r.Principal, id); err != nil {
		return nil, err
	}
	return apigw.NoContent(), nil
}

type runJSON struct {
	PipelineID string          `json:"pipeline_id"`
	Receptor   string          `json:"receptor"`
	Params     wire.VinaParams `json:"params"`
}

type createUploadRequest struct {
	Name      string   `json:"name"`
	Format    string   `json:"format"`
	SizeBytes int64    `json:"size_bytes"`
	Run       *runJSON `json:"run"`
}

type createUploadResponse struct {
	UploadID  string            `json:"upload_id"`
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt string            `json:"expires_at"`
}

func (h handler) createUpload(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	var in createUploadRequest
	if err := r.DecodeJSON(&in); err != nil {
		return nil, err
	}
	req := app.NewUploadInput{Name: in.Name, Format: in.Format, SizeBytes: in.SizeBytes}
	if in.Run != nil {
		if in.Run.PipelineID == "" {
			in.Run.PipelineID = domain.BuiltinPipelineID
		} else if id, err := domain.ParseID(in.Run.PipelineID); err != nil {
			return nil, domain.InvalidField("run.pipeline_id", "must be a UUID")
		} else {
			in.Run.PipelineID = id
		}
		req.Run = &app.RunInput{PipelineID: in.Run.PipelineID, Receptor: in.Run.Receptor, Params: in.Run.Params.Patch()}
	}
	up, err := h.molecules.CreateUpload(ctx, r.Principal, req)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusCreated, createUploadResponse{UploadID: up.Upload.ID, URL: up.Request.URL,
		Method: up.Request.Method, Headers: up.Request.Headers, ExpiresAt: wire.Time(up.Request.ExpiresAt)}), nil
}

type uploadJSON struct {
	UploadID   string  `json:"upload_id"`
	Status     string  `json:"status"`
	MoleculeID *string `json:"molecule_id,omitempty"`
	JobID      *string `json:"job_id,omitempty"`
	Error      *string `json:"error,omitempty"`
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (h handler) getUpload(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("upload_id")
	if err != nil {
		return nil, err
	}
	up, err := h.molecules.GetUpload(ctx, r.Principal, id)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, uploadJSON{UploadID: up.ID, Status: string(up.Status), MoleculeID: opt(up.MoleculeID),
		JobID: opt(up.JobID), Error: opt(up.Error)}), nil
}
