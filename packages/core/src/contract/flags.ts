/** Attributes a flag's targeting rules look at (OpenFeature's evaluation context). */
export type EvaluationContext = Readonly<Record<string, unknown>>;

/** OpenFeature's evaluation details: the value and why it was chosen. */
export interface EvaluationDetails<T> {
  flagKey: string;
  value: T;
  variant?: string;
  reason?: string;
  errorCode?: string;
  errorMessage?: string;
}

/** JSON-compatible flag values for object flags. */
export type FlagObject = Readonly<Record<string, unknown>> | readonly unknown[];

/**
 * `rt.flags`: the evaluation half of an OpenFeature client. Evaluations never throw: on any
 * problem they return the default with an error code.
 */
export interface Flags {
  getBooleanValue(key: string, defaultValue: boolean, context?: EvaluationContext): Promise<boolean>;
  getStringValue(key: string, defaultValue: string, context?: EvaluationContext): Promise<string>;
  getNumberValue(key: string, defaultValue: number, context?: EvaluationContext): Promise<number>;
  getObjectValue<T extends FlagObject>(key: string, defaultValue: T, context?: EvaluationContext): Promise<T>;
  getBooleanDetails(
    key: string,
    defaultValue: boolean,
    context?: EvaluationContext,
  ): Promise<EvaluationDetails<boolean>>;
}
