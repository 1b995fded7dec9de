// What a backend is given to load a version of a model's parameters or of a LoRA adapter
// (llm/params): the file the worker fetched and verified, and what it is.
export interface ParamsLoad {
  readonly model: string;
  /** The adapter; absent for the model's own weights. */
  readonly adapter?: string | undefined;
  readonly version: string;
  /** The verified file on local disk. */
  readonly path: string;
  /** Its SHA-256 (`sha256:` + base64url), as the rollout record and the blob manifest give it. */
  readonly sum: string;
  readonly size: number;
  readonly signal?: AbortSignal | undefined;
}

/** Which loaded version a request runs on, when it names one. */
export interface ParamsUse {
  readonly adapter?: string | undefined;
  readonly version: string;
}
