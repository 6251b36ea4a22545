package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// A store whose molecule reads fail like an unreachable database.
type brokenMoleculesStore struct {
	app.Store
	err error
}

func (s brokenMoleculesStore) Tx(ctx context.Context, scope domain.Scope, fn func(app.Tx) error) error {
	return s.Store.Tx(ctx, scope, func(tx app.Tx) error { return fn(brokenMoleculesTx{tx, s.err}) })
}

type brokenMoleculesTx struct {
	app.Tx
	err error
}

func (t brokenMoleculesTx) Molecules() app.MoleculeRepository {
	return brokenMolecules{t.Tx.Molecules(), t.err}
}

type brokenMolecules struct {
	app.MoleculeRepository
	err error
}

func (m brokenMolecules) FindMoleculeByID(ctx context.Context, id string) (domain.Molecule, error) {
	return domain.Molecule{}, m.err
}

func (m brokenMolecules) FindMoleculesByID(ctx context.Context, ids ...string) (map[string]domain.Molecule, error) {
	return nil, m.err
}

// TestCreateJobDependencyFailureIsNotValidation: when an input molecule
// cannot be read because of the database (here NOT_READY, as
// shared/postgres reports an unreachable database), CreateJob must return
// that error (503 NOT_READY, retry later), not a 400 VALIDATION_FAILED
// field error "could not be read" that tells the client its request is
// wrong. Found by scripts/reliability (TestReliabilityPostgresOutage).
func TestCreateJobDependencyFailureIsNotValidation(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	_, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)
	rec, lig := pair(t, env, u)

	down := &domain.Error{Code: domain.CodeNotReady, Message: "the database is unavailable; retry shortly"}
	jobs := *env.Jobs
	jobs.Store = brokenMoleculesStore{Store: env.Jobs.Store, err: errors.Join(errors.New("connect: connection refused"), down)}
	_, err := jobs.CreateJob(ctx, u.Principal, jobRequest(rec, lig))
	if got := domain.ErrorCode(err); got != domain.CodeNotReady {
		t.Fatalf("CreateJob with unreadable inputs: %s (%v), want NOT_READY: a dependency failure is not the client's fault", got, err)
	}
}
