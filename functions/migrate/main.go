// Command migrate applies the database migrations as the owner, creates
// the application's role and login, and seeds the bootstrap root user. In
// AWS a CDK trigger runs it on every deploy; locally `make dev` runs it
// before serving.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mad-bio/mad/migrations"
	"github.com/mad-bio/mad/shared/bootstrap"
	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/password"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/secrets"
)

func main() {
	ctx := context.Background()
	env, err := bootstrap.Start(ctx, routes.FnMigrate, config.NeedDBAdmin, config.NeedDB)
	if err != nil {
		bootstrap.Exit(env.Log, "configuration", err)
	}
	cfg, sec := env.Config, env.Secrets()
	h := handler{
		adminURL: func(ctx context.Context) (string, error) {
			if cfg.DatabaseAdminURL != "" {
				return cfg.DatabaseAdminURL, nil
			}
			c, err := sec.DBCredentials(ctx, cfg.DBAdminSecretID)
			if err != nil {
				return "", err
			}
			u := url.URL{Scheme: "postgres", User: url.UserPassword(c.Username, c.Password),
				Host: c.Host + ":" + strconv.Itoa(c.Port), Path: "/" + c.DBName}
			return u.String(), nil
		},
		appLogin: func(ctx context.Context) (Login, error) {
			if cfg.DatabaseURL != "" {
				u, err := url.Parse(cfg.DatabaseURL)
				if err != nil {
					return Login{}, fmt.Errorf("MAD_DATABASE_URL: %w", err)
				}
				pw, _ := u.User.Password()
				return Login{User: u.User.Username(), Password: pw}, nil
			}
			c, err := sec.DBCredentials(ctx, cfg.DBSecretID)
			return Login{User: c.Username, Password: c.Password}, err
		},
		rootUser: func(ctx context.Context) (RootUser, bool, error) {
			if cfg.RootEmail != "" {
				return RootUser{Email: cfg.RootEmail, Password: cfg.RootPassword}, true, nil
			}
			if cfg.RootSecretID == "" {
				return RootUser{}, false, nil
			}
			return rootFromSecret(ctx, sec, cfg.RootSecretID)
		},
		migrations: migrations.FS,
		hasher:     password.New(),
		log:        env.Log,
	}
	lambda.Start(h.handle)
}

func rootFromSecret(ctx context.Context, sec *secrets.Cache, id string) (RootUser, bool, error) {
	s, err := sec.Get(ctx, id)
	if err != nil {
		return RootUser{}, false, err
	}
	var v struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal([]byte(s.Value()), &v); err != nil {
		return RootUser{}, false, fmt.Errorf("root secret is not {\"email\",\"password\"} JSON")
	}
	return RootUser{Email: v.Email, Password: v.Password}, v.Email != "", nil
}
