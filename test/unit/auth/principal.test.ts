import { describe, expect, it } from 'vitest';
import { createPrincipal } from '../../../src/auth/principal.js';

describe('createPrincipal', () => {
  it('is frozen, its cluster list too, so no stage can widen what the token allows', () => {
    const principal = createPrincipal('acme', 'tok_1', ['eu-1']);
    expect(Object.isFrozen(principal)).toBe(true);
    expect(Object.isFrozen(principal.allowedClusters)).toBe(true);
    expect(() => (principal.allowedClusters as string[]).push('us-1')).toThrow(TypeError);
  });

  it('copies the cluster list instead of keeping the caller’s array', () => {
    const clusters = ['eu-1'];
    const principal = createPrincipal('acme', 'tok_1', clusters);
    clusters.push('us-1');
    expect(principal.allowedClusters).toEqual(['eu-1']);
  });
});
