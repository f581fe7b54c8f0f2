/** Does nothing: the handler of a rejection that is expected and harmless. @internal */
export function noop(): void {}
