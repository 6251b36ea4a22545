package stack

// Kind says how a function is triggered.
type Kind string

// Function kinds.
const (
	KindAPI        Kind = "api"        // HTTP API routes (shared/routes)
	KindAuthorizer Kind = "authorizer" // HTTP API Lambda authorizer
	KindQueue      Kind = "queue"      // SQS event source, batch size 1
	KindSchedule   Kind = "schedule"   // EventBridge schedule
	KindTrigger    Kind = "trigger"    // run once per deploy (CDK trigger)
	KindRotation   Kind = "rotation"   // Secrets Manager rotation
)

// Queue identifies one of the stack's queues.
type Queue string

// Queues a function may consume.
const (
	QueueJobs    Queue = "jobs"
	QueueJobsDLQ Queue = "jobs-dlq"
	QueueUploads Queue = "uploads"
)

// Needs names the configuration groups (shared/config) a function reads.
type Needs struct {
	DB, DBAdmin, JWT, Storage, Queue, Engine, Root bool
}

// Function describes one Lambda of the stack: the CDK stack and the local
// stack both build their function settings from this table.
type Function struct {
	Name           string
	Kind           Kind
	TimeoutSeconds int
	MemoryMB       int
	// Image is true for the container-image engine.
	Image bool
	// Consumes is the queue of a KindQueue function.
	Consumes Queue
	// ScheduleMinutes is the period of a KindSchedule function.
	ScheduleMinutes int
	// MaxConcurrency caps SQS-triggered concurrency to protect the database.
	MaxConcurrency int
	Needs          Needs
}

// Functions is every function of the stack.
var Functions = []Function{
	{Name: "authorizer", Kind: KindAuthorizer, TimeoutSeconds: 10, MemoryMB: 256, Needs: Needs{DB: true, JWT: true}},
	{Name: "health", Kind: KindAPI, TimeoutSeconds: 15, MemoryMB: 256, Needs: Needs{DB: true, JWT: true, Storage: true, Queue: true}},
	{Name: "auth", Kind: KindAPI, TimeoutSeconds: 15, MemoryMB: 512, Needs: Needs{DB: true, JWT: true}},
	{Name: "admin", Kind: KindAPI, TimeoutSeconds: 15, MemoryMB: 512, Needs: Needs{DB: true}},
	{Name: "molecules", Kind: KindAPI, TimeoutSeconds: 29, MemoryMB: 512, Needs: Needs{DB: true, Storage: true}},
	{Name: "jobs", Kind: KindAPI, TimeoutSeconds: 29, MemoryMB: 512, Needs: Needs{DB: true, Storage: true, Queue: true}},
	{Name: "engine", Kind: KindQueue, Image: true, TimeoutSeconds: EngineTimeoutSeconds, MemoryMB: 4096,
		Consumes: QueueJobs, MaxConcurrency: 20, Needs: Needs{DB: true, Storage: true, Engine: true}},
	{Name: "ingest", Kind: KindQueue, TimeoutSeconds: 300, MemoryMB: 1024, Consumes: QueueUploads, MaxConcurrency: 10,
		Needs: Needs{DB: true, Storage: true, Queue: true}},
	{Name: "dlq", Kind: KindQueue, TimeoutSeconds: 30, MemoryMB: 256, Consumes: QueueJobsDLQ, MaxConcurrency: 2, Needs: Needs{DB: true}},
	{Name: "sweeper", Kind: KindSchedule, TimeoutSeconds: 60, MemoryMB: 256, ScheduleMinutes: 1, Needs: Needs{DB: true, Queue: true}},
	{Name: "migrate", Kind: KindTrigger, TimeoutSeconds: 300, MemoryMB: 256, Needs: Needs{DB: true, DBAdmin: true, Root: true}},
	{Name: "rotate", Kind: KindRotation, TimeoutSeconds: 60, MemoryMB: 256, Needs: Needs{JWT: true}},
}

// FunctionByName returns the function named n.
func FunctionByName(n string) (Function, bool) {
	for _, f := range Functions {
		if f.Name == n {
			return f, true
		}
	}
	return Function{}, false
}

// QueueVisibilitySeconds is the visibility timeout a queue needs so its
// consumer's longest run ends before the message reappears.
func QueueVisibilitySeconds(q Queue) int {
	for _, f := range Functions {
		if f.Kind == KindQueue && f.Consumes == q {
			return f.TimeoutSeconds * VisibilityTimeoutFactor
		}
	}
	return 30
}
