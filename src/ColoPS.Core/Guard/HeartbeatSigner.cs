using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ColoPS.Colo;

namespace ColoPS.Guard
{
    /// <summary>
    /// Protects the guards' heartbeat with the sites' certificates when the pair runs TLS: each
    /// datagram carries the sender's client certificate and a signature by its key; the receiver
    /// accepts only a certificate its CA issued whose subject is the peer site's ClientIdentity (the
    /// same identity QEMU's listeners admit). A forged "my QEMU is gone" could start a takeover, so
    /// an unsigned datagram is dropped, never trusted.
    /// </summary>
    internal sealed class HeartbeatSigner : IDisposable
    {
        private readonly X509Certificate2 _own;
        private readonly byte[] _ownDer;
        private readonly X509Certificate2 _ca;
        private readonly string _peerIdentity;
        private byte[]? _trustedPeer;
        private X509Certificate2? _trustedCert;

        private HeartbeatSigner(X509Certificate2 own, X509Certificate2 ca, string peerIdentity)
        {
            _own = own;
            _ownDer = own.Export(X509ContentType.Cert);
            _ca = ca;
            _peerIdentity = Normalize(peerIdentity);
        }

        /// <summary>Null when the pair runs in clear.</summary>
        public static HeartbeatSigner? For(ColoConfig config, ColoSite site)
        {
            var tls = config.Tls;
            if (tls == null) return null;
            var mine = tls.GetSite(site) ?? throw Invalid($"Tls.Site{site} is missing.");
            var peer = tls.GetSite(ColoConfig.Other(site)) ?? throw Invalid($"Tls.Site{ColoConfig.Other(site)} is missing.");
            try
            {
                var own = X509Certificate2.CreateFromPemFile(mine.PathOf(ColoTlsConfig.ClientCertificate), mine.PathOf(ColoTlsConfig.ClientKey));
                var ca = X509Certificate2.CreateFromPem(File.ReadAllText(mine.PathOf(ColoTlsConfig.CaCertificate)));
                return new HeartbeatSigner(own, ca, peer.ClientIdentity);
            }
            catch (Exception e) when (e is IOException || e is CryptographicException || e is UnauthorizedAccessException)
            {
                throw Invalid($"The heartbeat cannot use site {site}'s certificates in '{mine.CertificateDirectory}': {e.Message}");
            }
        }

        private static ColoException Invalid(string message) => new("ColoGuardHeartbeatTls", ColoErrorKind.InvalidConfiguration, message);

        public byte[] Certificate => _ownDer;

        public byte[] Sign(byte[] payload)
        {
            using var rsa = _own.GetRSAPrivateKey();
            if (rsa != null) return rsa.SignData(payload, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
            using var ec = _own.GetECDsaPrivateKey() ?? throw Invalid("The client key is neither RSA nor ECDSA.");
            return ec.SignData(payload, HashAlgorithmName.SHA256);
        }

        public bool Verify(byte[] payload, byte[] certificate, byte[] signature)
        {
            // Every datagram carries the peer's certificate: parse and check it only when it changes,
            // not five times a second.
            if (_trustedPeer == null || _trustedCert == null || !_trustedPeer.AsSpan().SequenceEqual(certificate))
            {
                var fresh = new X509Certificate2(certificate);
                if (!IsPeer(fresh)) { fresh.Dispose(); return false; }
                _trustedCert?.Dispose();
                _trustedCert = fresh;
                _trustedPeer = certificate;
            }
            var cert = _trustedCert;
            using var rsa = cert.GetRSAPublicKey();
            if (rsa != null) return rsa.VerifyData(payload, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
            using var ec = cert.GetECDsaPublicKey();
            return ec != null && ec.VerifyData(payload, signature, HashAlgorithmName.SHA256);
        }

        private bool IsPeer(X509Certificate2 cert)
        {
            if (Normalize(cert.Subject) != _peerIdentity) return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(_ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(cert);
        }

        // QEMU prints a DN as "CN=x,O=y", .NET as "CN=x, O=y": compare the parts, not the spelling.
        private static string Normalize(string dn) =>
            string.Join(",", dn.Split(',').Select(p => p.Trim()).Where(p => p.Length > 0).OrderBy(p => p, StringComparer.Ordinal));

        public void Dispose()
        {
            _own.Dispose();
            _ca.Dispose();
            _trustedCert?.Dispose();
        }
    }
}
