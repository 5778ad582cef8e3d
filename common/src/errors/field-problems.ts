// Validation problems that name the field path, the value and what would be valid,
// collected so that one answer lists them all (the controller's pod validation and the
// probe rules both build them this way). Pure.

/** One problem with an object's field. */
export interface FieldProblem {
  /** e.g. spec.containers[0].ports[1].containerPort */
  field: string;
  value: unknown;
  /** "<field>: <value> <what is wrong and what is valid>" */
  message: string;
}

/** A value as a message shows it: strings quoted, numbers and the rest as JSON. */
export const showValue = (value: unknown): string =>
  typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));

export class FieldProblems {
  readonly list: FieldProblem[] = [];
  add(field: string, value: unknown, why: string): void {
    this.list.push({ field, value, message: `${field}: ${showValue(value)} ${why}` });
  }
  /** A problem about a field as a whole (missing, empty list): no value to show. */
  missing(field: string, why: string): void {
    this.list.push({ field, value: undefined, message: `${field}: ${why}` });
  }
}
