package domain

import (
	"fmt"
	"regexp"
	"time"
)

// Engine names and versions.
const (
	EngineVina             = "vina"
	BuiltinPipelineName    = "vina-docking"
	BuiltinPipelineID      = "00000000-0000-7000-8000-000000000001"
	BuiltinPipelineVersion = "1.2.3"
	// VinaEngineVersion is the AutoDock Vina release the engine image
	// ships (Debian's autodock-vina). It is part of every input signature,
	// so upgrading the engine never serves results of the old one.
	VinaEngineVersion = "1.2.3"
)

// Pipeline is a named, versioned docking recipe. Built-in pipelines have no
// org and are visible to every org. Published versions never change: a new
// version is a new pipeline row.
type Pipeline struct {
	ID        string
	OrgID     string // empty for built-in pipelines
	Name      string
	Engine    string
	Version   string
	Defaults  VinaParamsPatch
	CreatedAt time.Time
}

var versionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+){0,2}([-+][0-9A-Za-z.-]{1,40})?$`)

// ValidatePipelineVersion checks a version label (semver-like).
func ValidatePipelineVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("must look like 1.2.3 (semantic version)")
	}
	return nil
}
