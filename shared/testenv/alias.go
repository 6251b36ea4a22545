package testenv

import "github.com/mad-bio/mad/shared/app"

type appTx = app.Tx
