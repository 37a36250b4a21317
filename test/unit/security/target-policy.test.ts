import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/index.ts';
import {
  AllowListError,
  createOutboundGuard,
  normaliseHost,
  parseAllowList,
  TargetPolicy,
} from '../../../src/security/outbound/index.ts';
import { embeddedIPv4 } from '../../../src/security/outbound/ranges.ts';

const strict = new TargetPolicy(parseAllowList(null));

describe('private-target rule', () => {
  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '0.0.0.0',
    '0.1.2.3',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '100.64.0.1',
    '169.254.169.254',
    '169.254.1.1',
    '192.0.0.170',
    '192.0.2.1',
    '198.18.0.1',
    '198.51.100.7',
    '203.0.113.9',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    '168.63.129.16',
    '::',
    '::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '::ffff:0:7f00:1',
    '::127.0.0.1',
    '::a00:1',
    '64:ff9b::127.0.0.1',
    '64:ff9b::a9fe:a9fe',
    '64:ff9b:1::1',
    '2002:7f00:1::1',
    '2002:c0a8:101::',
    '2001:db8::1',
    '2001::1',
    '3fff::1',
    'fc00::1',
    'fd00:ec2::254',
    'fe80::1',
    'fe80::1%eth0',
    'fec0::1',
    'ff02::1',
    '100::1',
  ])('blocks %s', (address) => {
    expect(strict.isBlocked(address)).toBe(true);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '192.169.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
    '2002:808:808::1',
  ])('lets the public address %s through', (address) => {
    expect(strict.isBlocked(address)).toBe(false);
  });

  it('reads the IPv4 address inside mapped, compatible, NAT64 and 6to4 forms', () => {
    expect(embeddedIPv4('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(embeddedIPv4('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(embeddedIPv4('0:0:0:0:0:ffff:a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIPv4('64:ff9b::c0a8:1')).toBe('192.168.0.1');
    expect(embeddedIPv4('2002:0a00:0001::5')).toBe('10.0.0.1');
    expect(embeddedIPv4('2606:4700::1')).toBeNull();
  });

  it('lets listed networks through, in any form, and nothing else', () => {
    const policy = new TargetPolicy(parseAllowList('127.0.0.1/32, ::1/128,10.0.0.0/8'));
    expect(policy.isBlocked('127.0.0.1')).toBe(false);
    expect(policy.isBlocked('::ffff:127.0.0.1')).toBe(false);
    expect(policy.isBlocked('::1')).toBe(false);
    expect(policy.isBlocked('10.200.0.1')).toBe(false);
    expect(policy.isBlocked('127.0.0.2')).toBe(true);
    expect(policy.isBlocked('192.168.0.1')).toBe(true);
    expect(policy.isBlocked('169.254.169.254')).toBe(true);
  });

  it('`all` opens every range but the cloud metadata services, which only a CIDR naming them opens', () => {
    const all = new TargetPolicy(parseAllowList('all'));
    expect(all.isBlocked('127.0.0.1')).toBe(false);
    expect(all.isBlocked('fc00::1')).toBe(false);
    expect(all.isBlocked('169.254.169.254')).toBe(true);
    expect(all.isBlocked('::ffff:169.254.169.254')).toBe(true);
    expect(all.isBlocked('fd00:ec2::254')).toBe(true);
    const named = new TargetPolicy(parseAllowList('169.254.169.254/32'));
    expect(named.isBlocked('169.254.169.254')).toBe(false);
  });
});

describe('hosts checked offline (at PUT)', () => {
  const guard = createOutboundGuard(null);

  it.each([
    '127.0.0.1',
    '2130706433',
    '0x7f000001',
    '0177.0.0.1',
    '127.1',
    '0.0.0.0',
    '0',
    '[::1]',
    '::1',
    '[::ffff:127.0.0.1]',
    '169.254.169.254',
    '10.0.0.5',
    'localhost',
    'LOCALHOST.',
    'api.localhost',
  ])('refuses %s', (host) => {
    expect(guard.checkHost(host)).toBe('blocked');
  });

  it.each(['smtp.example.com', 'mail', '8.8.8.8', '[2606:4700:4700::1111]'])('leaves %s for DNS', (host) => {
    expect(guard.checkHost(host)).toBe('ok');
  });

  it.each(['a b', 'user@host', 'host/path', 'host:25', ''])('calls %j no host at all', (host) => {
    expect(guard.checkHost(host)).toBe('invalid');
  });

  it('normalises hosts the way a WHATWG URL does', () => {
    expect(normaliseHost('0x7f.1')).toBe('127.0.0.1');
    expect(normaliseHost('Mail.Example.COM')).toBe('mail.example.com');
  });
});

describe('TIDINGS_ALLOW_PRIVATE_TARGETS', () => {
  it.each(['10.0.0.0/33', 'nope', '10.0.0.0/8/1', '::1/129', '10.0.0.0/x', 'all,10.0.0.0/8'])(
    'refuses %j naming the variable',
    (value) => {
      expect(() => parseAllowList(value)).toThrow(AllowListError);
      expect(() => parseAllowList(value)).toThrow(/TIDINGS_ALLOW_PRIVATE_TARGETS/);
      expect(() => loadConfig({ TIDINGS_ALLOW_PRIVATE_TARGETS: value })).toThrow(ConfigError);
    },
  );

  it('accepts CIDRs of both families, bare addresses and `all`', () => {
    expect(() => parseAllowList('10.0.0.0/8,127.0.0.1/32,::1/128,fd00::/8,192.168.1.7')).not.toThrow();
    expect(parseAllowList('ALL').all).toBe(true);
    expect(loadConfig({ TIDINGS_ALLOW_PRIVATE_TARGETS: '127.0.0.1/32' }).allowPrivateTargets).toBe(
      '127.0.0.1/32',
    );
  });
});
