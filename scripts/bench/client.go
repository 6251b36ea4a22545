package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// client speaks the API's JSON through the local gateway.
type client struct {
	base  string
	token string
	http  *http.Client
}

func newHTTPClient(conns int) *http.Client {
	return &http.Client{Timeout: 120 * time.Second,
		Transport:     &http.Transport{MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, IdleConnTimeout: time.Minute},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (c *client) with(token string) *client {
	cp := *c
	cp.token = token
	return &cp
}

// do sends a request and decodes a JSON answer into out (when not nil);
// any status other than want is an error carrying the body.
func (c *client) do(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d (want %d): %.300s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode %.200s: %w", method, path, b, err)
		}
	}
	return nil
}

// login returns an access token.
func (c *client) login(ctx context.Context, email, password, orgID string) (string, error) {
	body := map[string]string{"email": email, "password": password}
	if orgID != "" {
		body["org_id"] = orgID
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := c.with("").do(ctx, "POST", "/api/v1/auth/token", body, 200, &tok); err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// tenant is the org a benchmark works in.
type tenant struct {
	OrgID      string
	Admin      *client // the org's admin, logged in to the org
	Receptor   string  // molecule ids of the 1iep PDBQT pair
	Ligand     string
	AdminToken string
}

const benchPassword = "correct horse battery staple"

// newTenant creates an org as root with quotas for load (max_active_jobs
// 1000), logs its admin in and stores the 1iep pair.
func newTenant(ctx context.Context, c *client, rootEmail, rootPassword string, receptor, ligand []byte) (*tenant, error) {
	rootTok, err := c.login(ctx, rootEmail, rootPassword, "")
	if err != nil {
		return nil, fmt.Errorf("root login: %w", err)
	}
	root := c.with(rootTok)
	email := fmt.Sprintf("bench-%d@lab.example", time.Now().UnixNano())
	var org struct {
		OrgID string `json:"org_id"`
	}
	if err := root.do(ctx, "POST", "/api/v1/orgs", map[string]string{"name": fmt.Sprintf("bench-%d", time.Now().UnixNano()),
		"admin_email": email, "admin_password": benchPassword}, 201, &org); err != nil {
		return nil, err
	}
	if err := root.do(ctx, "PATCH", "/api/v1/orgs/"+org.OrgID, map[string]any{"quotas": map[string]any{
		"max_active_jobs": 1000, "max_storage_bytes": int64(10) << 30}}, 200, nil); err != nil {
		return nil, err
	}
	tok, err := c.login(ctx, email, benchPassword, org.OrgID)
	if err != nil {
		return nil, fmt.Errorf("admin login: %w", err)
	}
	t := &tenant{OrgID: org.OrgID, Admin: c.with(tok), AdminToken: tok}
	for _, m := range []struct {
		name string
		body []byte
		dst  *string
	}{{"1iep receptor", receptor, &t.Receptor}, {"imatinib", ligand, &t.Ligand}} {
		var out struct {
			MoleculeID string `json:"molecule_id"`
		}
		if err := t.Admin.do(ctx, "POST", "/api/v1/molecules", map[string]string{"name": m.name, "format": "pdbqt",
			"content": string(m.body)}, 201, &out); err != nil {
			return nil, err
		}
		*m.dst = out.MoleculeID
	}
	return t, nil
}

// jobRequest is the 1iep docking request of every job the benchmark
// creates: the Vina example box, exhaustiveness 1, seed 42.
func (t *tenant) jobRequest() []byte {
	b, _ := json.Marshal(map[string]any{
		"inputs": map[string]string{"receptor": t.Receptor, "ligand": t.Ligand},
		"params": map[string]any{"center": []float64{15.190, 53.903, 16.917}, "size": []float64{20, 20, 20},
			"exhaustiveness": 1, "num_modes": 3, "seed": 42},
	})
	return b
}

// authorizerContext is what the authorizer returns for token (the
// apigw.PrincipalContext of its claims), read from the token's payload.
func authorizerContext(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var c struct {
		Sub     string   `json:"sub"`
		SubType string   `json:"sub_type"`
		OrgID   string   `json:"org_id"`
		Roles   []string `json:"roles"`
		Scopes  []string `json:"scopes"`
		JTI     string   `json:"jti"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return map[string]any{"sub": c.Sub, "sub_type": c.SubType, "org_id": c.OrgID,
		"roles": strings.Join(c.Roles, ","), "scopes": strings.Join(c.Scopes, ","), "jti": c.JTI}, nil
}
