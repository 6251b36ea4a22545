package cdkstack

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// featureFlags are the recommended feature flags of aws-cdk-lib 2.277.0
// (its recommended-feature-flags.json), the ones `cdk init` writes into a
// new project's cdk.json. They live here rather than in cdk.json so that
// the app, `go run ./infra` and the tests synthesize the same template.
//
//go:embed featureflags.json
var featureFlagsJSON []byte

// FeatureFlags returns the context the App must be created with.
func FeatureFlags() map[string]any {
	m := map[string]any{}
	if err := json.Unmarshal(featureFlagsJSON, &m); err != nil {
		panic(fmt.Sprintf("featureflags.json: %v", err))
	}
	return m
}
